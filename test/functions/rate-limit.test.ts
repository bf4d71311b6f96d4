import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AppEnv } from "../../functions/http/env";
import { rateLimit } from "../../functions/http/rate-limit";
import worker from "../../functions/index";
import { parseConfig } from "../../lib/base/config";
import { isFanoutError } from "../../lib/base/errors";
import { createLogger } from "../../lib/base/log";
import { API_KEY } from "./batch-helpers";
import { BASE, expectProblem } from "./helpers";

const OTHER_KEY = "other-key-0123456789";
const ADMIN_KEY = "admin-key-0123456789";
const BATCH = { steps: [{ id: "a", wait: { ms: 1 } }] };

function postBatch(
  vars: Record<string, unknown>,
  key = API_KEY,
  body: unknown = BATCH,
  headers: Record<string, string> = {},
): Promise<Response> {
  return worker.fetch(
    new Request(`${BASE}/v1/batch`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
    { ...env, ...vars } as Env,
    createExecutionContext(),
  ) as Promise<Response>;
}

/** A stand-in binding that records each key and answers `success`. */
function fakeLimiter(success: boolean) {
  const keys: string[] = [];
  const limit = async ({ key }: { key: string }) => {
    keys.push(key);
    return { success };
  };
  return { keys, limit };
}

/**
 * RATE_LIMIT_TEST (vitest.config.ts) is miniflare's own limiter: 3 requests per fixed 60 s window.
 * A test that drives it starts well inside a window, so the window cannot turn (and reset) mid-test.
 */
async function awayFromWindowEdge(): Promise<void> {
  const into = Date.now() % 60_000;
  if (into > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - into + 200));
}

/** A small app with rateLimit("clientIp"), as public composites use it (config and logger as the gateway sets them). */
function clientIpApp() {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("config", parseConfig(c.env as unknown as Record<string, unknown>));
    c.set("logger", createLogger("warn"));
    await next();
  });
  app.get("/public", rateLimit("clientIp"), (c) => c.text("ok"));
  app.onError((error, c) =>
    isFanoutError(error) ? c.json({ code: error.code, detail: error.detail }, error.status as 429, error.headers) : c.text("bug", 500),
  );
  return (vars: Record<string, unknown>, ip?: string) =>
    app.fetch(
      new Request(`${BASE}/public`, { headers: ip ? { "cf-connecting-ip": ip } : {} }),
      { ...env, ...vars } as Env,
      createExecutionContext(),
    );
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("rate limits per API key on POST /v1/batch", () => {
  it("changes nothing under the limit", async () => {
    const res = await postBatch({});
    expect(res.status).toBe(200);
    expect(res.headers.has("retry-after")).toBe(false);
  });

  it("answers 429 rate_limited with Retry-After over the limit (miniflare's limiter, driven to it)", { timeout: 20_000 }, async () => {
    await awayFromWindowEdge();
    const vars = { RATE_LIMIT_KEYS: env.RATE_LIMIT_TEST, RATE_LIMIT_KEYS_RULE: "3/60" };
    for (let i = 0; i < 3; i++) expect((await postBatch(vars, OTHER_KEY)).status, `request ${i + 1}`).toBe(200);
    const res = await postBatch(vars, OTHER_KEY);
    expect(res.headers.get("retry-after")).toBe("60");
    const problem = await expectProblem(res, 429, "rate_limited");
    expect(problem.detail).toBe("more than 3 requests per 60 s for this API key (RATE_LIMIT_KEYS); retry after 60 s");
    // Counted before the body is read: a refused request is not validated either.
    await expectProblem(await postBatch(vars, OTHER_KEY, "{not json"), 429, "rate_limited");
    // Another key has its own count.
    expect((await postBatch(vars, ADMIN_KEY)).status).toBe(200);
  });

  it("counts under key:<API key id>, never the key itself", async () => {
    const limiter = fakeLimiter(true);
    expect((await postBatch({ RATE_LIMIT_KEYS: limiter })).status).toBe(200);
    expect(limiter.keys).toEqual(["key:test"]);
  });

  it("names the binding and says 60 s when the rule var is not set", async () => {
    const res = await postBatch({ RATE_LIMIT_KEYS: fakeLimiter(false), RATE_LIMIT_KEYS_RULE: "" });
    expect(res.headers.get("retry-after")).toBe("60");
    const problem = await expectProblem(res, 429, "rate_limited");
    expect(problem.detail).toBe("too many requests for this API key (RATE_LIMIT_KEYS); retry after 60 s");
  });

  it("words a 10 s period from its rule", async () => {
    const res = await postBatch({ RATE_LIMIT_KEYS: fakeLimiter(false), RATE_LIMIT_KEYS_RULE: "50/10" });
    expect(res.headers.get("retry-after")).toBe("10");
    expect((await expectProblem(res, 429, "rate_limited")).detail).toMatch(/^more than 50 requests per 10 s/);
  });

  it("is authenticated first: a bad key is 401, not counted", async () => {
    const limiter = fakeLimiter(false);
    await expectProblem(await postBatch({ RATE_LIMIT_KEYS: limiter }, "wrong-key-0123456789"), 401, "unauthorized");
    expect(limiter.keys).toEqual([]);
  });

  it("sends CORS headers with the 429, and a page may read Retry-After", async () => {
    const res = await postBatch({ RATE_LIMIT_KEYS: fakeLimiter(false), CORS_ORIGINS: "https://app.example.com" }, API_KEY, BATCH, {
      origin: "https://app.example.com",
    });
    await expectProblem(res, 429, "rate_limited");
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(res.headers.get("access-control-expose-headers")).toContain("retry-after");
  });
});

describe("a rate-limit binding that fails never fails the request", () => {
  it.each([
    ["rejects", { limit: () => Promise.reject(new Error("limiter unavailable")) }],
    [
      "throws",
      {
        limit: () => {
          throw new Error("limiter unavailable");
        },
      },
    ],
    ["is missing", undefined],
    ["is not a limiter", "oops"],
  ])("runs the batch when the binding %s, and logs a warning", async (_name, binding) => {
    const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
    const res = await postBatch({ RATE_LIMIT_KEYS: binding });
    expect(res.status).toBe(200);
    expect((await res.json()) as { completed: boolean }).toMatchObject({ completed: true });
    const lines = warned.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: "warn", message: "rate limit not applied: the request runs unlimited", binding: "RATE_LIMIT_KEYS" }),
    );
  });
});

describe("rate limits per client IP", () => {
  const call = clientIpApp();

  it("counts under ip:<CF-Connecting-IP>, or ip:unknown without it", async () => {
    const limiter = fakeLimiter(true);
    await call({ RATE_LIMIT_IPS: limiter }, "203.0.113.9");
    await call({ RATE_LIMIT_IPS: limiter }, "2001:db8::1");
    await call({ RATE_LIMIT_IPS: limiter });
    expect(limiter.keys).toEqual(["ip:203.0.113.9", "ip:2001:db8::1", "ip:unknown"]);
  });

  it("limits each IP on its own (miniflare's limiter, driven to the limit)", { timeout: 20_000 }, async () => {
    await awayFromWindowEdge();
    const vars = { RATE_LIMIT_IPS: env.RATE_LIMIT_TEST, RATE_LIMIT_IPS_RULE: "3/60" };
    const ip = `198.51.100.${Math.floor(Math.random() * 250)}`;
    for (let i = 0; i < 3; i++) expect((await call(vars, ip)).status).toBe(200);
    const res = await call(vars, ip);
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("60");
    expect(await res.json()).toEqual({
      code: "rate_limited",
      detail: "more than 3 requests per 60 s for this client IP (RATE_LIMIT_IPS); retry after 60 s",
    });
    expect((await call(vars, "192.0.2.77")).status).toBe(200);
  });

  it("runs the request when the binding fails", async () => {
    const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
    expect((await call({ RATE_LIMIT_IPS: { limit: () => Promise.reject(new Error("down")) } }, "203.0.113.9")).status).toBe(200);
    // ...and says so, for the operator.
    expect(warned.mock.calls.map(([line]) => JSON.parse(String(line)))).toEqual([
      expect.objectContaining({
        level: "warn",
        message: "rate limit not applied: the request runs unlimited",
        binding: "RATE_LIMIT_IPS",
        error: "down",
      }),
    ]);
  });
});
