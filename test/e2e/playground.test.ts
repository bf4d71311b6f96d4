import { writeFile } from "node:fs/promises";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, noBrowser } from "./browser";
import { type RunningServer, startServer } from "./server";

/**
 * /playground and /docs in headless Chromium against `npm start`, offline: every request that does
 * not go to the local server is refused (and recorded), so a page that needed a CDN would fail here.
 * SCREENSHOT=1 also writes test/e2e/playground.png (the README's picture) after the demo batch.
 */

const PORT = 8816;
const ADMIN_KEY = "fanout-local-admin-key";

let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  if (noBrowser) return;
  server = await startServer(PORT);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

interface Opened {
  page: Page;
  /** Requests refused because they left the local server. */
  outside: string[];
  /** Uncaught errors and console errors (a CSP violation is one). */
  errors: string[];
}

async function open(path: string): Promise<Opened> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const outside: string[] = [];
  const errors: string[] = [];
  await page.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === "localhost" && url.port === String(PORT)) return route.continue();
    outside.push(url.href);
    return route.abort("internetdisconnected");
  });
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  await page.goto(`${server.origin}${path}`);
  return { page, outside, errors };
}

interface DrawnBar {
  id: string;
  outcome: string;
  x: number;
  width: number;
  startMs: number;
  endMs: number;
  critical: boolean;
}

function bars(page: Page): Promise<DrawnBar[]> {
  return page.$$eval("svg#waterfall rect.bar", (rects) =>
    rects.map((rect) => ({
      id: rect.getAttribute("data-id") ?? "",
      outcome: rect.getAttribute("data-outcome") ?? "",
      x: Number(rect.getAttribute("x")),
      width: Number(rect.getAttribute("width")),
      startMs: Number(rect.getAttribute("data-start")),
      endMs: Number(rect.getAttribute("data-end")),
      critical: rect.classList.contains("critical"),
    })),
  );
}

async function runBatch(page: Page, batch?: unknown): Promise<void> {
  if (batch !== undefined) await page.fill("#batch", JSON.stringify(batch));
  await page.click("#run");
}

describe.skipIf(noBrowser)("the playground under npm start, offline", () => {
  it("runs the demo batch: one bar per step, a dependent step's bar starts after its dependency's ends", async () => {
    const { page, outside, errors } = await open("/playground");
    const steps = JSON.parse(await page.inputValue("#batch")).steps as { id: string }[];
    expect(steps.map((step) => step.id)).toEqual(["a", "b", "flags", "user", "orders"]);
    await runBatch(page);
    await page.waitForSelector("#status[data-state=done]", { timeout: 20_000 });
    const drawn = await bars(page);
    expect(drawn.map((bar) => bar.id).sort()).toEqual(steps.map((step) => step.id).sort());
    expect(drawn.every((bar) => bar.outcome === "ok")).toBe(true);
    const user = drawn.find((bar) => bar.id === "user")!;
    const orders = drawn.find((bar) => bar.id === "orders")!;
    // orders reads {{user.body[0].id}}: it starts after user ends, on the time axis and on screen.
    expect(orders.startMs).toBeGreaterThanOrEqual(user.endMs);
    expect(orders.x).toBeGreaterThanOrEqual(user.x + user.width - 0.5);
    expect(await page.$$eval('path.arrow[data-from="user"][data-to="orders"]', (paths) => paths.length)).toBe(1);
    // The critical path ends at the bar that ends last.
    const last = drawn.reduce((a, b) => (b.endMs > a.endMs ? b : a));
    expect(last.critical).toBe(true);
    // Hovering a bar shows its status and attempts.
    expect(await page.$eval('rect.bar[data-id="orders"] title', (title) => title.textContent)).toMatch(/orders: ok[\s\S]*attempts 1/);
    // The batch is kept in the URL fragment.
    expect(decodeURIComponent(new URL(page.url()).hash)).toContain('"id":"orders"');
    expect(outside).toEqual([]);
    expect(errors).toEqual([]);
    if (process.env.SCREENSHOT) await writeFile(new URL("playground.png", import.meta.url), await page.screenshot({ fullPage: true }));
    await page.close();
  });

  it("draws a streamed result before the batch finishes", async () => {
    const { page, outside, errors } = await open("/playground");
    await runBatch(page, {
      steps: [
        { id: "slow", wait: { ms: 3000 } },
        { id: "fast", wait: { ms: 10 } },
        { id: "next", dependsOn: ["fast"], http: { url: "/v1/sim/delay/20" } },
      ],
    });
    await page.waitForSelector('rect.bar[data-id="next"]', { timeout: 10_000 });
    // fast and next are drawn while slow is still pending: the batch has not finished.
    expect((await bars(page)).map((bar) => bar.id).sort()).toEqual(["fast", "next"]);
    expect(await page.$$eval('text[data-pending="slow"]', (texts) => texts.length)).toBe(1);
    expect(await page.getAttribute("#status", "data-state")).toBe("running");
    await page.waitForSelector("#status[data-state=done]", { timeout: 10_000 });
    expect((await bars(page)).map((bar) => bar.id).sort()).toEqual(["fast", "next", "slow"]);
    expect(outside).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("marks retries, hedges, coalesced, failed, skipped and cancelled steps", async () => {
    const { page, errors } = await open("/playground");
    await page.selectOption("#example", "hedge");
    await runBatch(page);
    await page.waitForSelector("#status[data-state=done]", { timeout: 20_000 });
    const byId = Object.fromEntries((await bars(page)).map((bar) => [bar.id, bar]));
    expect(byId.broken?.outcome).toBe("failed");
    expect(byId.afterBroken?.outcome).toBe("skipped");
    expect([byId.same1?.outcome, byId.same2?.outcome].sort()).toEqual(["coalesced", "ok"]);
    expect(await page.getAttribute('rect.bar[data-id="retried"]', "data-attempts")).toBe("3");
    expect(await page.$$eval("text.mark.retry", (marks) => marks.length)).toBe(1);
    expect(await page.$$eval("text.mark.hedge", (marks) => marks.length)).toBe(1);

    await page.selectOption("#example", "race");
    await runBatch(page);
    await page.waitForSelector("#status[data-state=done]", { timeout: 20_000 });
    const race = await bars(page);
    expect(race.filter((bar) => bar.outcome === "cancelled").length).toBeGreaterThanOrEqual(2);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("draws a composite's steps from ?debug=1, and a shared fragment restores it", async () => {
    const { page, outside, errors } = await open("/playground#composite=%2Fv1%2Fc%2Fhome%3Fuser%3D1");
    expect(await page.inputValue("#composite")).toBe("/v1/c/home?user=1");
    await page.fill("#key", ADMIN_KEY);
    await page.click("#run-composite");
    await page.waitForSelector("#status[data-state=done]", { timeout: 20_000 });
    expect((await bars(page)).map((bar) => bar.id).sort()).toEqual(["flags", "orders", "recommendations", "user"]);
    expect(outside).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe.skipIf(noBrowser)("/docs under npm start, offline", () => {
  it("lists POST /v1/batch from /openapi.json with nothing loaded from elsewhere", async () => {
    const { page, outside, errors } = await open("/docs");
    await page.waitForSelector("body[data-loaded=true]", { timeout: 20_000 });
    const operations = await page.$$eval("details.op > summary", (summaries) =>
      summaries.map((summary) => `${summary.querySelector(".method")?.textContent} ${summary.querySelector("code")?.textContent}`),
    );
    expect(operations).toContain("post /v1/batch");
    expect(operations).toContain("get /healthz");
    expect(await page.$$eval("#schemas details", (schemas) => schemas.length)).toBeGreaterThan(0);
    expect(outside).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });
});
