import { describe, expect, it } from "vitest";
import { createApp } from "../../functions/index";
import { loadComposites } from "../../lib/composite/catalog";
import { getFrom, UPSTREAM, upstreamCalls, upstreamHits } from "./batch-helpers";
import { captureLogs } from "./helpers";

/**
 * Fallback data, array merges and forwarded headers (issue 20 §3 and §5), in workerd with upstream
 * hit counters: a failing optional step is called once and its fallback data is served, named in
 * fanout-fallback and cached only under fallbackTtlSeconds; a skipped step's declared default makes
 * no call; concat appends several steps' arrays; forwarded headers reach the client and are replayed
 * from the cache.
 */

let unique = 0;
const fresh = (label: string) => `${label}-${Date.now().toString(36)}-${unique++}`;

function appWith(composites: Record<string, unknown>) {
  const catalog = loadComposites({ composites });
  expect(catalog.broken).toEqual([]);
  return createApp(catalog).app;
}

const get = getFrom;

const PROMO = { title: "Free shipping", items: [{ id: "p0" }] };

/** A composite whose optional promo upstream answers `codes` in turn (one per call), with fallback data. */
function promoComposite(key: string, codes: string, cache: Record<string, unknown>, fallback: Record<string, unknown> = {}) {
  return appWith({
    c: {
      path: "c",
      auth: "apiKey",
      steps: [
        { id: "main", http: { url: `${UPSTREAM}/counter/${key}-main` } },
        {
          id: "promo",
          required: false,
          http: { url: `${UPSTREAM}/sequence/${key}?codes=${codes}` },
          fallback: { data: PROMO, ...fallback },
        },
      ],
      output: { steps: { main: {}, promo: { allow: ["title", "items"] } } },
      cache,
    },
  });
}

describe("fallback", () => {
  it("a failing optional step is called once, and the answer is served with its data, named in fanout-fallback, not cached", async () => {
    const key = fresh("fb");
    const app = promoComposite(key, "503", { ttlSeconds: 60, staleWhileRevalidateSeconds: 300 });
    const res = await get(app, "/v1/c/c");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ main: { value: 0 }, promo: PROMO });
    expect(res.headers.get("fanout-fallback")).toBe("promo");
    expect(res.headers.get("fanout-incomplete")).toBeNull();
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("cache-status")).toBe("fanout; fwd=uri-miss");
    expect((await upstreamCalls(key)).at).toHaveLength(1);
    // Not stored: the next request runs the composite again.
    expect((await get(app, "/v1/c/c")).headers.get("fanout-fallback")).toBe("promo");
    expect((await upstreamCalls(key)).at).toHaveLength(2);
  });

  it("with fallbackTtlSeconds the answer is cached that long, never stale, and a hit names the fallback again", async () => {
    const key = fresh("fbttl");
    const app = promoComposite(key, "503,200", { ttlSeconds: 60, staleWhileRevalidateSeconds: 300, fallbackTtlSeconds: 5 });
    const first = await get(app, "/v1/c/c");
    expect(first.headers.get("cache-control")).toBe("private, max-age=5");
    expect(first.headers.get("cache-status")).toBe("fanout; fwd=uri-miss; stored");
    const second = await get(app, "/v1/c/c");
    expect(second.headers.get("cache-status")).toMatch(/^fanout; hit; ttl=[45]$/);
    expect(second.headers.get("cache-control")).toMatch(/^private, max-age=[45]$/);
    expect(second.headers.get("fanout-fallback")).toBe("promo");
    expect(await second.json()).toEqual({ main: { value: 0 }, promo: PROMO });
    expect((await upstreamCalls(key)).at).toHaveLength(1);
  });

  it.each([
    ["keeps the stale answer without fallbackTtlSeconds", {}, null],
    ["stores the fallen-back answer with fallbackTtlSeconds", { fallbackTtlSeconds: 2 }, "promo"],
  ])("a background refresh that falls back %s", async (_, policy, named) => {
    const logs = captureLogs("warn");
    const key = fresh("fbswr");
    const app = promoComposite(key, "200,503", { ttlSeconds: 2, staleWhileRevalidateSeconds: 60, ...policy });
    expect((await get(app, "/v1/c/c")).headers.get("fanout-fallback")).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    // A stale hit: answered from the cache, refreshed after the response (get waits for it); the refresh's promo fails.
    expect((await get(app, "/v1/c/c")).headers.get("cache-status")).toMatch(/stale-while-revalidate/);
    expect((await upstreamCalls(key)).at).toHaveLength(2);
    const after = await get(app, "/v1/c/c");
    expect(after.headers.get("cache-status")).toMatch(/^fanout; hit/);
    expect(after.headers.get("fanout-fallback")).toBe(named);
    expect(((await after.json()) as { promo: unknown }).promo).toEqual(named ? PROMO : {});
    const kept = logs().filter((line) => line.message === "composite refresh kept the stale answer");
    // Each stale hit refreshes (this one's too): each refresh says why it kept the stale answer.
    expect([...new Set(kept.map((line) => line.reason))]).toEqual(named ? [] : ["fallback: promo"]);
  });

  it("a step that succeeds is served as it answered, with no fanout-fallback and the full cache policy", async () => {
    const key = fresh("fbok");
    const res = await get(promoComposite(key, "200", { ttlSeconds: 60, fallbackTtlSeconds: 5 }), "/v1/c/c");
    expect(await res.json()).toEqual({ main: { value: 0 }, promo: {} });
    expect(res.headers.get("fanout-fallback")).toBeNull();
    expect(res.headers.get("cache-control")).toBe("private, max-age=60, stale-while-revalidate=0");
  });

  const conditional = (key: string, whenSkipped: boolean) =>
    appWith({
      c: {
        path: "c",
        auth: "apiKey",
        params: { include: { in: "query", type: "string", enum: ["promo"] } },
        steps: [
          { id: "main", http: { url: `${UPSTREAM}/counter/${key}-main` } },
          {
            id: "promo",
            required: false,
            when: 'query.include == "promo"',
            http: { url: `${UPSTREAM}/counter/${key}` },
            fallback: { data: { value: -1 }, whenSkipped },
          },
        ],
        cache: { ttlSeconds: 60 },
      },
    });

  it("whenSkipped: a step its condition skips gets its data, without a call, as a complete and fully cacheable answer", async () => {
    const key = fresh("skip");
    const app = conditional(key, true);
    const skipped = await get(app, "/v1/c/c");
    expect(await skipped.json()).toEqual({ main: { value: 0 }, promo: { value: -1 } });
    expect(skipped.headers.get("fanout-fallback")).toBeNull();
    expect(skipped.headers.get("cache-control")).toBe("private, max-age=60, stale-while-revalidate=0");
    expect(await upstreamHits(`/counter/${key}`)).toBe(0);
    const included = await get(app, "/v1/c/c?include=promo");
    expect(await included.json()).toEqual({ main: { value: 0 }, promo: { value: 0 } });
    expect(await upstreamHits(`/counter/${key}`)).toBe(1);
  });

  it("without whenSkipped a step its condition skips is left out, as before", async () => {
    const key = fresh("noskip");
    const res = await get(conditional(key, false), "/v1/c/c");
    expect(await res.json()).toEqual({ main: { value: 0 } });
    expect(res.headers.get("fanout-fallback")).toBeNull();
    expect(res.headers.get("fanout-incomplete")).toBeNull();
  });
});

describe("concat", () => {
  it("appends the arrays of several steps into one field; a failed optional source is left out and named", async () => {
    const key = fresh("concat");
    const app = appWith({
      c: {
        path: "c",
        auth: "apiKey",
        steps: [
          { id: "a", http: { url: `${UPSTREAM}/bulk?id=1&id=2` } },
          { id: "b", required: false, http: { url: `${UPSTREAM}/bulk?id=3` } },
          { id: "down", required: false, http: { url: `${UPSTREAM}/sequence/${key}?codes=503` } },
        ],
        output: { fields: { items: { concat: ["{{a.body}}", "{{b.body}}", "{{down.body.items}}", [{ id: 0, name: "pinned" }]] } } },
      },
    });
    const res = await get(app, "/v1/c/c");
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as { items: Array<{ id: number }> };
    // The fixture answers in reverse order: each source keeps its own order.
    expect(items.map((item) => item.id)).toEqual([2, 1, 3, 0]);
    expect(res.headers.get("fanout-incomplete")).toBe("down");
    expect((await upstreamCalls(key)).at).toHaveLength(1);
  });
  it("appends a bulk forEach's bodies (one call per batch of items) to another step's array", async () => {
    const before = await upstreamHits("/bulk");
    const app = appWith({
      c: {
        path: "c",
        auth: "apiKey",
        steps: [
          { id: "each", forEach: [1, 2, 3], batch: { size: 2, param: "id", matchBy: "id" }, http: { url: `${UPSTREAM}/bulk` } },
          { id: "more", http: { url: `${UPSTREAM}/bulk?id=9` } },
        ],
        output: { fields: { items: { concat: ["{{each.body}}", "{{more.body}}"] } } },
      },
    });
    const res = await get(app, "/v1/c/c");
    expect(res.status).toBe(200);
    expect(((await res.json()) as { items: Array<{ id: number }> }).items.map((item) => item.id)).toEqual([1, 2, 3, 9]);
    expect((await upstreamHits("/bulk")) - before).toBe(3);
  });
});

describe("forwardHeaders", () => {
  const forwarding = (url: string, cache?: Record<string, unknown>) =>
    appWith({
      c: {
        path: "c",
        auth: "apiKey",
        steps: [{ id: "s", required: false, http: { url } }],
        forwardHeaders: { "x-kept": "s" },
        ...(cache ? { cache } : {}),
      },
    });

  it("passes the listed upstream header to the client, never a cookie; a cached answer and its 304 replay it", async () => {
    const app = forwarding(`${UPSTREAM}/cookie?k=${fresh("fwd")}`, { ttlSeconds: 60 });
    const before = await upstreamHits("/cookie");
    const first = await get(app, "/v1/c/c");
    expect(first.status).toBe(200);
    expect(first.headers.get("x-kept")).toBe("yes");
    expect(first.headers.get("set-cookie")).toBeNull();
    const hit = await get(app, "/v1/c/c");
    expect(hit.headers.get("cache-status")).toMatch(/hit/);
    expect(hit.headers.get("x-kept")).toBe("yes");
    const revalidated = await get(app, "/v1/c/c", { "if-none-match": hit.headers.get("etag")! });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get("x-kept")).toBe("yes");
    expect(await upstreamHits("/cookie")).toBe(before + 1);
  });

  it("/openapi.json lists each forwarded header on the composite's 200, naming its step", async () => {
    const res = await get(forwarding(`${UPSTREAM}/cookie`), "/openapi.json");
    const doc = (await res.json()) as {
      paths: Record<string, { get: { responses: Record<string, { headers: Record<string, { description: string }> }> } }>;
    };
    expect(doc.paths["/v1/c/c"]!.get.responses["200"]!.headers["x-kept"]?.description).toMatch(/step "s"/);
  });

  it("is absent when its step failed", async () => {
    const res = await get(forwarding(`${UPSTREAM}/status/503`), "/v1/c/c");
    expect(res.status).toBe(200);
    expect(res.headers.get("x-kept")).toBeNull();
    expect(res.headers.get("fanout-incomplete")).toBe("s");
  });
});
