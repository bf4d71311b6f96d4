import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../functions/index";
import { loadComposites } from "../../lib/composite/catalog";
import { API_KEY, UPSTREAM, upstreamHits } from "./batch-helpers";
import { call, captureLogs, expectProblem } from "./helpers";

/**
 * Composite routes inside workerd: params and headers, shaping, required and optional steps, the
 * edge cache (counted at the upstream), auth and debug. Each test uses its own upstream path so hit
 * counts are its own.
 */

const ADMIN_KEY = "admin-key-0123456789";
let unique = 0;
const fresh = (label: string) => `${label}-${Date.now().toString(36)}-${unique++}`;

/** An app serving the given composites (the real composition root, with its own catalog). */
function appWith(composites: Record<string, unknown>) {
  const catalog = loadComposites({ composites });
  return { ...createApp(catalog), catalog };
}

/**
 * Calls an app the way a keyed client would (`authorization` in `headers` replaces the key; a public
 * composite calls no upstream, so most composites here need one); `settle` waits for its after-response
 * work (cache stores, refreshes).
 */
async function get(
  app: ReturnType<typeof appWith>["app"],
  path: string,
  headers: Record<string, string> = {},
  bindings: Record<string, unknown> = {},
) {
  return getAnonymously(app, path, { authorization: `Bearer ${API_KEY}`, ...headers }, bindings);
}

/** Calls an app without an API key (unless `headers` has one). */
async function getAnonymously(
  app: ReturnType<typeof appWith>["app"],
  path: string,
  headers: Record<string, string> = {},
  bindings: Record<string, unknown> = {},
) {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`http://fanout.test${path}`, { headers }), { ...env, ...bindings }, ctx);
  return { res, settle: () => waitOnExecutionContext(ctx) };
}

const counterStep = (id: string, key: string, extra: Record<string, unknown> = {}) => ({
  id,
  http: { url: `${UPSTREAM}/counter/${key}` },
  ...extra,
});

describe("composite cache", () => {
  it("two calls within the TTL make one upstream call; the second is a hit with Age and the same ETag", async () => {
    const key = fresh("ttl");
    const { app } = appWith({
      c: { path: "c", auth: "apiKey", steps: [counterStep("n", key)], cache: { ttlSeconds: 60 } },
    });
    const first = await get(app, "/v1/c/c");
    expect(first.res.status).toBe(200);
    expect(first.res.headers.get("cache-status")).toBe("fanout; fwd=uri-miss; stored");
    // A keyed composite's answer is for its caller's eyes: private to shared caches (fanout's own edge cache still stores it).
    expect(first.res.headers.get("cache-control")).toBe("private, max-age=60, stale-while-revalidate=0");
    const body = await first.res.json();
    expect(body).toEqual({ n: { value: 0 } });
    await first.settle();

    const second = await get(app, "/v1/c/c");
    expect(second.res.headers.get("cache-status")).toMatch(/^fanout; hit; ttl=(59|60)$/);
    expect(second.res.headers.get("age")).toMatch(/^[01]$/);
    expect(second.res.headers.get("etag")).toBe(first.res.headers.get("etag"));
    expect(await second.res.json()).toEqual(body);
    expect(await upstreamHits(`/counter/${key}`)).toBe(1);
  });

  it("If-None-Match with the ETag answers 304 without a body (and without an upstream call on a hit)", async () => {
    const key = fresh("etag");
    const { app } = appWith({ c: { path: "c", auth: "apiKey", steps: [counterStep("n", key)], cache: { ttlSeconds: 60 } } });
    const first = await get(app, "/v1/c/c");
    const etag = first.res.headers.get("etag")!;
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    await first.settle();
    const revalidated = await get(app, "/v1/c/c", { "if-none-match": `"other", W/${etag}` });
    expect(revalidated.res.status).toBe(304);
    expect(await revalidated.res.text()).toBe("");
    expect(revalidated.res.headers.get("etag")).toBe(etag);
    expect(revalidated.res.headers.get("cache-status")).toMatch(/hit/);
    const changed = await get(app, "/v1/c/c", { "if-none-match": '"other"' });
    expect(changed.res.status).toBe(200);
    expect(await upstreamHits(`/counter/${key}`)).toBe(1);
  });

  it("a stale hit answers at once and refreshes exactly once after the response, however many stale hits arrive", async () => {
    const key = fresh("swr");
    const { app } = appWith({
      c: { path: "c", auth: "apiKey", steps: [counterStep("n", key)], cache: { ttlSeconds: 1, staleWhileRevalidateSeconds: 60 } },
    });
    const first = await get(app, "/v1/c/c");
    await first.settle();
    await new Promise((resolve) => setTimeout(resolve, 1_100));

    const stale = await Promise.all([get(app, "/v1/c/c"), get(app, "/v1/c/c"), get(app, "/v1/c/c")]);
    for (const { res } of stale) {
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-status")).toMatch(/^fanout; hit; ttl=-\d+; detail=stale-while-revalidate$/);
    }
    // The stale answers went out before any refresh reached the upstream.
    expect(await upstreamHits(`/counter/${key}`)).toBe(1);
    await Promise.all(stale.map(({ settle }) => settle()));
    expect(await upstreamHits(`/counter/${key}`)).toBe(2);

    const after = await get(app, "/v1/c/c");
    expect(after.res.headers.get("cache-status")).toMatch(/^fanout; hit; ttl=\d+$/);
    expect(await upstreamHits(`/counter/${key}`)).toBe(2);
  });

  it("a partial answer is never stored: the next call runs the composite again", async () => {
    const key = fresh("partial");
    const { app } = appWith({
      c: {
        path: "c",
        auth: "apiKey",
        steps: [counterStep("n", key), { id: "down", required: false, http: { url: `${UPSTREAM}/status/503` } }],
        cache: { ttlSeconds: 60 },
      },
    });
    for (let round = 1; round <= 2; round++) {
      const { res, settle } = await get(app, "/v1/c/c");
      expect(res.status).toBe(200);
      expect(res.headers.get("fanout-incomplete")).toBe("down");
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("cache-status")).toBe("fanout; fwd=uri-miss");
      expect(await res.json()).toEqual({ n: { value: 0 } });
      await settle();
      expect(await upstreamHits(`/counter/${key}`)).toBe(round);
    }
  });

  it("params key the cache (in any order) and unknown query parameters do not", async () => {
    const key = fresh("params");
    const { app } = appWith({
      c: {
        path: "c",
        auth: "apiKey",
        params: { a: { type: "integer", default: 1 }, b: { type: "string", default: "x" } },
        steps: [{ id: "n", http: { url: `${UPSTREAM}/counter/${key}?a={{params.a}}&b={{query.b}}` } }],
        cache: { ttlSeconds: 60 },
      },
    });
    for (const path of ["/v1/c/c?a=2&b=y", "/v1/c/c?b=y&a=2", "/v1/c/c?b=y&a=2&utm=1&_=123"]) {
      const { settle } = await get(app, path);
      await settle();
    }
    expect(await upstreamHits(`/counter/${key}`)).toBe(1);
    await (await get(app, "/v1/c/c?a=3&b=y")).settle();
    expect(await upstreamHits(`/counter/${key}`)).toBe(2);
  });

  it("varied headers key the cache; per-API-key caching keys by the key id", async () => {
    const key = fresh("vary");
    const { app } = appWith({
      c: {
        path: "c",
        auth: "apiKey",
        headers: ["accept-language"],
        steps: [counterStep("n", key)],
        cache: { ttlSeconds: 60, vary: ["accept-language"], perApiKey: true },
      },
    });
    const as = (apiKey: string, language: string) => ({ authorization: `Bearer ${apiKey}`, "accept-language": language });
    for (const headers of [as(API_KEY, "en"), as(API_KEY, "en"), as(API_KEY, "fr"), as(ADMIN_KEY, "en")]) {
      const { res, settle } = await get(app, "/v1/c/c", headers);
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toMatch(/^private, /);
      await settle();
    }
    expect(await upstreamHits(`/counter/${key}`)).toBe(3);
  });

  it("an uncached composite says no-store and sends no Cache-Status", async () => {
    const { app } = appWith({ c: { path: "c", auth: "apiKey", steps: [{ id: "w", wait: { ms: 1 } }] } });
    const { res } = await get(app, "/v1/c/c");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.has("cache-status")).toBe(false);
  });
});

describe("composite answers", () => {
  it("a required step that fails is a 502 naming it; a timeout is a 504", async () => {
    const { app } = appWith({
      failing: { path: "failing", auth: "apiKey", steps: [{ id: "profile", http: { url: `${UPSTREAM}/status/500` } }] },
      slow: { path: "slow", auth: "apiKey", steps: [{ id: "profile", http: { url: `${UPSTREAM}/delay?ms=3000`, timeoutMs: 100 } }] },
    });
    const failed = await expectProblem((await get(app, "/v1/c/failing")).res, 502, "http_status");
    expect(failed.detail).toContain('required step "profile"');
    const timedOut = await expectProblem((await get(app, "/v1/c/slow")).res, 504, "timeout");
    expect(timedOut.detail).toContain('required step "profile"');
  });

  it("names the step that failed, not the ones it skipped", async () => {
    const { app } = appWith({
      c: {
        path: "c",
        auth: "apiKey",
        steps: [
          { id: "first", http: { url: `${UPSTREAM}/status/500` } },
          { id: "second", http: { url: `${UPSTREAM}/echo?after={{first.status}}` } },
        ],
      },
    });
    const problem = await expectProblem((await get(app, "/v1/c/c")).res, 502, "http_status");
    expect(problem.detail).toContain('"first"');
  });

  it("shapes the document: target, allow, rename, group, merge and a flatmapped field", async () => {
    const { app } = appWith({
      c: {
        path: "c",
        auth: "apiKey",
        params: { q: { type: "string", default: "hi" } },
        steps: [{ id: "echo", http: { url: `${UPSTREAM}/echo?q={{params.q}}&other=1` } }],
        output: {
          steps: { echo: { target: "query", allow: ["q"], rename: { q: "question" }, group: "asked" } },
          fields: { method: "{{echo.body.method}}", q: "{{query.q}}" },
        },
      },
    });
    const { res } = await get(app, "/v1/c/c?q=why%3F");
    expect(await res.json()).toEqual({ asked: { question: "why?" }, method: "GET", q: "why?" });
  });

  it("steps see only the declared headers: never Authorization, cookies or anything undeclared", async () => {
    const { app } = appWith({
      c: {
        path: "c",
        auth: "apiKey",
        headers: ["x-tenant"],
        steps: [{ id: "echo", http: { url: `${UPSTREAM}/echo`, headers: { "x-tenant": "{{headers.x-tenant}}" } } }],
        output: { steps: { echo: { target: "headers" } } },
      },
    });
    const { res } = await get(app, "/v1/c/c", { authorization: `Bearer ${API_KEY}`, "x-tenant": "acme", cookie: "s=1", "x-other": "no" });
    const sent = (await res.json()) as { echo: Record<string, string> };
    expect(sent.echo["x-tenant"]).toBe("acme");
    expect(JSON.stringify(sent)).not.toContain(API_KEY);
    expect(sent.echo.cookie).toBeUndefined();
    expect(sent.echo["x-other"]).toBeUndefined();
  });

  it("a value from the request that looks like a reference stays text (rendering is one pass)", async () => {
    const { app } = appWith({
      c: {
        path: "c",
        auth: "apiKey",
        params: { note: { type: "string", required: true } },
        steps: [
          { id: "secret", kv: { key: "flags:web", type: "json" } },
          { id: "echo", http: { url: `${UPSTREAM}/echo`, method: "POST", body: { note: "{{params.note}}" } } },
        ],
        output: { steps: { echo: { target: "body" } } },
      },
    });
    await env.KV.put("flags:web", JSON.stringify({ secret: "never rendered" }));
    const { res } = await get(app, `/v1/c/c?note=${encodeURIComponent("{{secret.body}}")}`);
    expect(res.status).toBe(200);
    expect(JSON.parse(((await res.json()) as { echo: string }).echo)).toEqual({ note: "{{secret.body}}" });
  });

  it("bad params and header values are 400 problems naming them, before any step runs", async () => {
    const key = fresh("bad");
    const { app } = appWith({
      c: {
        path: "items/:id",
        auth: "apiKey",
        params: { id: { in: "path", type: "integer", min: 1 }, n: { type: "integer", max: 10, required: true } },
        headers: ["x-tenant"],
        steps: [counterStep("n", key)],
      },
    });
    const cases: Array<[string, Record<string, string>, string, RegExp]> = [
      ["/v1/c/items/0?n=1", {}, "id", /id must be >= 1/],
      ["/v1/c/items/abc?n=1", {}, "id", /id must be an integer/],
      ["/v1/c/items/1", {}, "n", /n is required/],
      ["/v1/c/items/1?n=1&n=2", {}, "n", /n must be given once/],
      ["/v1/c/items/1?n=11", {}, "n", /n must be <= 10/],
      ["/v1/c/items/1?n=", {}, "n", /n must be an integer/],
      ["/v1/c/items/1?n=1", { "x-tenant": "x".repeat(1025) }, "header x-tenant", /printable ASCII/],
    ];
    for (const [path, headers, name, reason] of cases) {
      const problem = await expectProblem((await get(app, path, headers)).res, 400, "validation_failed");
      expect(problem.invalidParams?.[0]?.name, path).toBe(name);
      expect(problem.invalidParams?.[0]?.reason, path).toMatch(reason);
    }
    expect(await upstreamHits(`/counter/${key}`)).toBe(0);
    expect((await get(app, "/v1/c/items/7?n=3")).res.status).toBe(200);
  });
});

describe("composite configuration", () => {
  it("a broken composite answers 503 not_configured naming it; the others keep working", async () => {
    const errors = captureLogs("error");
    const { app, catalog } = appWith({
      good: { path: "good", auth: "apiKey", steps: [{ id: "w", wait: { ms: 1 } }] },
      bad: { path: "bad", auth: "apiKey", steps: [{ id: "w", wait: { ms: 1 }, dependsOn: ["nope"] }] },
    });
    expect(catalog.broken.map((broken) => broken.name)).toEqual(["bad"]);
    const problem = await expectProblem((await get(app, "/v1/c/bad")).res, 503, "not_configured");
    expect(problem.detail).toContain('"bad"');
    expect(problem.detail).not.toContain("nope");
    expect((await get(app, "/v1/c/good")).res.status).toBe(200);
    // Why goes to the log, under the request id the caller was given.
    expect(errors()).toEqual([
      expect.objectContaining({
        code: "not_configured",
        requestId: problem.requestId,
        detail: expect.stringContaining('unknown step "nope"'),
      }),
    ]);
  });

  it("a composite that does not fit the configuration (an unknown D1 query) is 503 not_configured, not the caller's 400", async () => {
    const errors = captureLogs("error");
    const { app } = appWith({ c: { path: "c", auth: "apiKey", steps: [{ id: "q", d1: { query: "noSuchQuery" } }] } });
    const problem = await expectProblem((await get(app, "/v1/c/c")).res, 503, "not_configured");
    expect(problem.detail).toContain('composite "c"');
    expect(errors()).toEqual([
      expect.objectContaining({ code: "not_configured", requestId: problem.requestId, detail: expect.stringContaining('"noSuchQuery"') }),
    ]);
  });
});

describe("composite auth and debug", () => {
  const composites = {
    open: { path: "open", auth: "none", steps: [{ id: "w", wait: { ms: 1 } }] },
    closed: { path: "closed", auth: "apiKey", steps: [{ id: "w", wait: { ms: 1 } }] },
  };

  it("apiKey composites need a key; public ones do not", async () => {
    const { app } = appWith(composites);
    await expectProblem((await getAnonymously(app, "/v1/c/closed")).res, 401, "unauthorized");
    expect((await get(app, "/v1/c/closed", { authorization: `Bearer ${API_KEY}` })).res.status).toBe(200);
    expect((await getAnonymously(app, "/v1/c/open")).res.status).toBe(200);
  });

  it("?debug=1 returns the per-step envelope to admin keys only, never cached", async () => {
    const { app } = appWith(composites);
    await expectProblem((await getAnonymously(app, "/v1/c/open?debug=1")).res, 401, "unauthorized");
    const forbidden = await expectProblem(
      (await get(app, "/v1/c/open?debug=1", { authorization: `Bearer ${API_KEY}` })).res,
      403,
      "forbidden",
    );
    expect(forbidden.invalidParams?.[0]?.name).toBe("debug");
    const { res } = await get(app, "/v1/c/open?debug=1", { authorization: `Bearer ${ADMIN_KEY}` });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = (await res.json()) as { document: unknown; results: Record<string, { ok: boolean; durationMs: number }> };
    expect(body.document).toEqual({ w: { waitedMs: 1 } });
    expect(body.results.w).toMatchObject({ ok: true });
    expect(typeof body.results.w!.durationMs).toBe("number");
  });
});

describe("composite rate limits", () => {
  const refusing = { limit: async () => ({ success: false }) };
  const counting = (keys: string[]) => ({
    limit: async ({ key }: { key: string }) => {
      keys.push(key);
      return { success: true };
    },
  });
  const composites = {
    open: { path: "open", auth: "none", steps: [{ id: "w", wait: { ms: 1 } }] },
    closed: { path: "closed", auth: "apiKey", steps: [{ id: "w", wait: { ms: 1 } }] },
  };

  it("public composites are limited per client IP, apiKey ones per key id; over the limit is a 429 with Retry-After", async () => {
    const { app } = appWith(composites);
    const ips: string[] = [];
    const keys: string[] = [];
    const bindings = { RATE_LIMIT_IPS: counting(ips), RATE_LIMIT_KEYS: counting(keys) };
    expect((await getAnonymously(app, "/v1/c/open", { "cf-connecting-ip": "203.0.113.9" }, bindings)).res.status).toBe(200);
    expect((await get(app, "/v1/c/closed", { authorization: `Bearer ${API_KEY}` }, bindings)).res.status).toBe(200);
    expect(ips).toEqual(["ip:203.0.113.9"]);
    expect(keys).toEqual(["key:test"]);

    const limited = await getAnonymously(app, "/v1/c/open", {}, { RATE_LIMIT_IPS: refusing, RATE_LIMIT_IPS_RULE: "120/60" });
    const problem = await expectProblem(limited.res, 429, "rate_limited");
    expect(limited.res.headers.get("retry-after")).toBe("60");
    expect(problem.detail).toContain("RATE_LIMIT_IPS");
    await expectProblem(
      (await get(app, "/v1/c/closed", { authorization: `Bearer ${API_KEY}` }, { RATE_LIMIT_KEYS: refusing })).res,
      429,
      "rate_limited",
    );
  });
});

describe("the demo composites (functions/composites.jsonc)", () => {
  // The rows and keys `npm start` seeds (test/fixtures/seed); storage is empty at the start of each test.
  beforeEach(async () => {
    await env.DB.batch([
      env.DB.prepare("INSERT INTO users (id, name, email) VALUES (1, 'Ada Lovelace', 'ada@example.com')"),
      env.DB.prepare("INSERT INTO orders (id, user_id, total_cents, created_at) VALUES (1, 1, 1999, '2026-11-01T10:00:00Z')"),
      env.DB.prepare("INSERT INTO orders (id, user_id, total_cents, created_at) VALUES (2, 1, 4500, '2026-11-12T16:30:00Z')"),
    ]);
    await env.KV.put("flags:web", JSON.stringify({ newCheckout: true, darkMode: false }));
    await env.KV.put("greeting", "hello from local KV");
  });

  it("GET /v1/c/home?user=1 answers the documented document", async () => {
    const res = await call("/v1/c/home?user=1", { headers: { authorization: `Bearer ${API_KEY}`, "accept-language": "en" } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      user: { id: 1, name: "Ada Lovelace" },
      orders: [
        { id: 1, totalCents: 1999, createdAt: "2026-11-01T10:00:00Z" },
        { id: 2, totalCents: 4500, createdAt: "2026-11-12T16:30:00Z" },
      ],
      flags: { newCheckout: true, darkMode: false },
      recommendedFor: { for: "1", lang: "en" },
      orderIds: [1, 2],
    });
  });

  it("GET /v1/c/welcome is public and names its failed optional step", async () => {
    const res = await call("/v1/c/welcome");
    expect(res.status).toBe(200);
    expect(res.headers.get("fanout-incomplete")).toBe("promo");
    expect(await res.json()).toEqual({ message: "hello from local KV", flags: { newCheckout: true, darkMode: false } });
  });

  it("/openapi.json describes each composite as its own GET operation with its params", async () => {
    const doc = (await (await call("/openapi.json")).json()) as {
      paths: Record<
        string,
        {
          get?: {
            operationId?: string;
            parameters?: Array<{ name: string; in: string; required?: boolean; schema: { type?: string } }>;
            security?: unknown[];
          };
        }
      >;
    };
    const home = doc.paths["/v1/c/home"]?.get;
    expect(home?.operationId).toBe("composite_home");
    expect(home?.parameters).toContainEqual(
      expect.objectContaining({ name: "user", in: "query", required: true, schema: expect.objectContaining({ type: "integer" }) }),
    );
    expect(doc.paths["/v1/c/welcome"]?.get?.security).toEqual([]);
  });
});
