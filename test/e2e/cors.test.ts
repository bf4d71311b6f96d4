import { createServer, type Server } from "node:http";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { launchChromium, noBrowser } from "./browser";
import { type RunningServer, startServer } from "./server";

/**
 * A page on one origin calls fanout on another, in headless Chromium: the browser sends a real
 * preflight (the Authorization header is not CORS-safelisted) and shares the answer and the exposed
 * headers only with an allowed origin. A page on a disallowed origin gets a TypeError: the browser
 * refused.
 */

const PORT = 8813;
const PAGE_PORT = 8814;
const OTHER_PAGE_PORT = 8815;
const PAGE = `http://localhost:${PAGE_PORT}`;
const OTHER_PAGE = `http://localhost:${OTHER_PAGE_PORT}`;
const KEY = "fanout-local-demo-key";
const ADMIN_KEY = "fanout-local-admin-key";

let server: RunningServer;
const pageServers: Server[] = [];

/** A blank page per port: its only job is to give fetch() an origin. */
async function servePage(port: number): Promise<void> {
  const pages = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>fanout CORS test page</title>");
  });
  await new Promise<void>((resolve, reject) => pages.once("error", reject).listen(port, "localhost", resolve));
  pageServers.push(pages);
}

beforeAll(async () => {
  // Only the one page origin: the other port is a disallowed origin.
  server = await startServer(PORT, { extraVars: { CORS_ORIGINS: PAGE } });
  await servePage(PAGE_PORT);
  await servePage(OTHER_PAGE_PORT);
});
afterAll(async () => {
  await server?.stop();
  await Promise.all(pageServers.map((pages) => new Promise((resolve) => pages.close(resolve))));
});

describe("CORS under npm start", () => {
  it("answers an allowed origin's preflight with 204 and the CORS headers", async () => {
    const res = await fetch(`${server.origin}/v1/batch`, {
      method: "OPTIONS",
      headers: { origin: PAGE, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(PAGE);
    expect(res.headers.get("access-control-allow-headers")).toContain("authorization");
  });
});

describe("rate limits under npm start", () => {
  it("the local limiter refuses an API key's request over its wrangler.toml limit with 429 and Retry-After", async () => {
    const bindings = unstable_readConfig({ config: new URL("../../wrangler.toml", import.meta.url).pathname }).ratelimits as Array<{
      name: string;
      simple: { limit: number; period: number };
    }>;
    const { simple } = bindings.find((entry) => entry.name === "RATE_LIMIT_KEYS")!;
    // The local limiter counts in fixed windows: start well inside one so it cannot reset mid-run.
    const into = Date.now() % (simple.period * 1000);
    if (into > simple.period * 1000 - 15_000) await new Promise((resolve) => setTimeout(resolve, simple.period * 1000 - into + 200));
    const post = () =>
      fetch(`${server.origin}/v1/batch`, {
        method: "POST",
        // The admin key, so that the demo key the browser tests use is not throttled.
        headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ steps: [{ id: "w", wait: { ms: 0 } }] }),
      });
    const statuses: number[] = [];
    for (let i = 0; i < simple.limit; i++) {
      const res = await post();
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    const refused = await post();
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe(String(simple.period));
    expect(await refused.json()).toMatchObject({ code: "rate_limited", detail: expect.stringContaining("RATE_LIMIT_KEYS") });
  });
});

interface PageFetch {
  ok?: boolean;
  status?: number;
  headers?: Record<string, string | null>;
  body?: unknown;
  error?: string;
}

/** fetch() from inside the page; a refused request comes back as its error's name and message. */
function fetchFrom(page: Page, url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return page.evaluate(
    async ({ url, init }): Promise<PageFetch> => {
      try {
        const res = await fetch(url, init);
        const read = (name: string) => res.headers.get(name);
        const text = await res.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON
        }
        return {
          ok: res.ok,
          status: res.status,
          headers: {
            "x-request-id": read("x-request-id"),
            "server-timing": read("server-timing"),
            "fanout-incomplete": read("fanout-incomplete"),
            "fanout-fallback": read("fanout-fallback"),
            "content-type": read("content-type"),
          },
          body,
        };
      } catch (error) {
        return { error: `${(error as Error).name}: ${(error as Error).message}` };
      }
    },
    { url, init },
  );
}

describe.skipIf(noBrowser)("a page on another origin, in headless Chromium", { tags: ["browser"] }, () => {
  let browser: Browser;
  let page: Page;
  let otherPage: Page;

  beforeAll(async () => {
    browser = await launchChromium();
    page = await browser.newPage();
    await page.goto(`${PAGE}/`);
    otherPage = await browser.newPage();
    await otherPage.goto(`${OTHER_PAGE}/`);
  });
  afterAll(async () => {
    await browser?.close();
  });

  const batch = () => ({
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ steps: [{ id: "a", http: { url: "/v1/sim/delay/20" } }] }),
  });

  it("POSTs a batch with the API key (after a real preflight) and reads the exposed headers", async () => {
    const result = await fetchFrom(page, `${server.origin}/v1/batch`, batch());
    expect(result.error).toBeUndefined();
    expect(result.status).toBe(200);
    expect(result.headers!["x-request-id"]).toMatch(/\S/);
    expect(result.headers!["server-timing"]).toContain("step-a");
    expect(result.body).toMatchObject({ completed: true, results: { a: { ok: true, status: 200 } } });
  });

  it("reads a problem's body too (401 with a bad key)", async () => {
    const result = await fetchFrom(page, `${server.origin}/v1/batch`, {
      ...batch(),
      headers: { ...batch().headers, authorization: "Bearer nope" },
    });
    expect(result.status).toBe(401);
    expect(result.headers!["content-type"]).toBe("application/problem+json");
    expect(result.body).toMatchObject({ code: "unauthorized" });
  });

  it("GETs a public composite and reads fanout-incomplete", async () => {
    const result = await fetchFrom(page, `${server.origin}/v1/c/welcome`);
    expect(result.error).toBeUndefined();
    expect(result.status).toBe(200);
    expect(result.headers!["fanout-incomplete"]).toBe("promo");
    expect(result.headers!["x-request-id"]).toMatch(/\S/);
  });

  it("GETs the demo product composite and reads fanout-fallback", async () => {
    const result = await fetchFrom(page, `${server.origin}/v1/c/products/7`);
    expect(result.error).toBeUndefined();
    expect(result.status).toBe(200);
    expect(result.headers!["fanout-fallback"]).toBe("promo");
  });

  it("is refused by the browser on a disallowed origin: TypeError, for a preflighted POST and a simple GET", async () => {
    const post = await fetchFrom(otherPage, `${server.origin}/v1/batch`, batch());
    expect(post.error).toMatch(/^TypeError: /);
    const get = await fetchFrom(otherPage, `${server.origin}/v1/sim/delay/1`);
    expect(get.error).toMatch(/^TypeError: /);
    // The same GET from the allowed page is shared.
    expect((await fetchFrom(page, `${server.origin}/v1/sim/delay/1`)).status).toBe(200);
  });
});
