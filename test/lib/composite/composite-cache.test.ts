import { describe, expect, it } from "vitest";
import { etagOf, matchesIfNoneMatch } from "../../../lib/base/http";
import { type CacheKeyParts, type CacheLookup, cacheKeyUrl, cacheStatus, lookup, RefreshGate, store } from "../../../lib/composite/cache";
import type { CachePolicy } from "../../../lib/composite/definition";

/**
 * A composite's cache: the key (what splits it and what must not), ETag matching, the per-isolate
 * refresh gate, freshness against caches.default in workerd with an injected clock, and Cache-Status.
 */

const parts: CacheKeyParts = {
  origin: "https://fanout.test",
  composite: "home",
  version: "v1",
  inputs: {
    params: { user: 42, channel: "web" },
    query: { user: 42, channel: "web" },
    headers: { "accept-language": "en", "x-other": "1" },
  },
  vary: ["accept-language"],
};
const keyOf = (change: Partial<CacheKeyParts> = {}) => cacheKeyUrl({ ...parts, ...change });
const withInputs = (params: CacheKeyParts["inputs"]["params"], headers: Record<string, string> = parts.inputs.headers) =>
  keyOf({ inputs: { params, query: params, headers } });

describe("cacheKeyUrl", () => {
  it("is a URL under the Worker's own origin, naming the composite and its version", () => {
    const url = new URL(keyOf());
    expect(url.origin).toBe("https://fanout.test");
    expect(url.pathname).toBe("/__fanout-cache/composites/home/v1");
  });

  it("does not depend on the order of params or varied headers", () => {
    expect(withInputs({ channel: "web", user: 42 })).toBe(keyOf());
    const headers = { b: "2", a: "1" };
    expect(keyOf({ vary: ["a", "b"], inputs: { ...parts.inputs, headers } })).toBe(
      keyOf({ vary: ["b", "a"], inputs: { ...parts.inputs, headers } }),
    );
  });

  it("changes with every param value, and with a param's presence", () => {
    expect(withInputs({ user: 43, channel: "web" })).not.toBe(keyOf());
    expect(withInputs({ user: 42, channel: "beta" })).not.toBe(keyOf());
    expect(withInputs({ user: 42 })).not.toBe(keyOf());
    expect(withInputs({ user: 42, channel: "" })).not.toBe(withInputs({ user: 42 }));
  });

  it("changes with a varied header, not with a header the policy does not vary on", () => {
    expect(withInputs(parts.inputs.params, { "accept-language": "fr", "x-other": "1" })).not.toBe(keyOf());
    expect(withInputs(parts.inputs.params, { "accept-language": "en", "x-other": "2" })).toBe(keyOf());
    expect(withInputs(parts.inputs.params, { "accept-language": "en" })).toBe(keyOf());
    // Varying on a header the request did not send keys on its absence.
    expect(keyOf({ vary: ["accept-language", "x-absent"] })).not.toBe(keyOf());
  });

  it("changes with the API key id when given, and never holds more than the id", () => {
    expect(keyOf({ keyId: "test" })).not.toBe(keyOf());
    expect(keyOf({ keyId: "test" })).not.toBe(keyOf({ keyId: "other" }));
    expect(new URL(keyOf({ keyId: "test" })).searchParams.get("k")).toBe("test");
  });

  it("changes with the composite's version and name", () => {
    expect(keyOf({ version: "v2" })).not.toBe(keyOf());
    expect(keyOf({ composite: "welcome" })).not.toBe(keyOf());
  });

  it("encodes values, so a value cannot forge another param, header or key id", () => {
    const forged = withInputs({ user: "1&p.channel=beta&k=admin", channel: "web" });
    const url = new URL(forged);
    expect(url.searchParams.get("p.user")).toBe("1&p.channel=beta&k=admin");
    expect(url.searchParams.getAll("p.channel")).toEqual(["web"]);
    expect(url.searchParams.has("k")).toBe(false);
    expect(forged).not.toContain("&k=");
    const header = new URL(withInputs(parts.inputs.params, { "accept-language": "en#x?y=1 é" }));
    expect(header.searchParams.get("h.accept-language")).toBe("en#x?y=1 é");
    expect(header.hash).toBe("");
  });
});

describe("etagOf and matchesIfNoneMatch", () => {
  it("makes a strong, quoted ETag that follows the bytes", async () => {
    const etag = await etagOf('{"a":1}');
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(await etagOf('{"a":1}')).toBe(etag);
    expect(await etagOf('{"a":2}')).not.toBe(etag);
  });

  const etag = '"abc"';
  it.each([
    ['"abc"', true],
    ['W/"abc"', true],
    ['"x", "abc"', true],
    ['"x",W/"abc" ,"y"', true],
    ["*", true],
    [" * ", true],
    ['"x"', false],
    ['"x", "y"', false],
    ['"abcd"', false],
    ["abc", false],
    ["", false],
  ])('If-None-Match %j against "abc" matches: %s', (header, expected) => {
    expect(matchesIfNoneMatch(header, etag)).toBe(expected);
  });

  it("never matches a missing header, and compares weakly on either side", () => {
    expect(matchesIfNoneMatch(undefined, etag)).toBe(false);
    expect(matchesIfNoneMatch(null, etag)).toBe(false);
    expect(matchesIfNoneMatch('"abc"', 'W/"abc"')).toBe(true);
  });
});

describe("RefreshGate", () => {
  it("lets one refresh per key run at a time, and finish releases it", () => {
    const gate = new RefreshGate(1_000, () => 0);
    expect(gate.tryBegin("a")).toBe(true);
    expect(gate.tryBegin("a")).toBe(false);
    expect(gate.tryBegin("b")).toBe(true);
    expect(gate.size).toBe(2);
    gate.finish("a");
    expect(gate.size).toBe(1);
    expect(gate.tryBegin("a")).toBe(true);
    expect(gate.tryBegin("b")).toBe(false);
  });

  it("stops blocking a key whose refresh never reported back after staleAfterMs", () => {
    let now = 10_000;
    const gate = new RefreshGate(1_000, () => now);
    expect(gate.tryBegin("a")).toBe(true);
    now += 999;
    expect(gate.tryBegin("a")).toBe(false);
    now += 1;
    expect(gate.tryBegin("a")).toBe(true);
    // The new start is the one that counts.
    now += 999;
    expect(gate.tryBegin("a")).toBe(false);
    expect(gate.size).toBe(1);
  });

  it.each([0, -1, Number.NaN])("refuses staleAfterMs %s at once with a RangeError", (staleAfterMs) => {
    expect(() => new RefreshGate(staleAfterMs)).toThrow(RangeError);
  });
});

describe("lookup and store in caches.default", () => {
  const policy: CachePolicy = { ttlSeconds: 30, staleWhileRevalidateSeconds: 300, vary: [], perApiKey: false };
  const storedAt = 1_700_000_000_000;
  let counter = 0;
  // Each test its own key, whatever the Cache API keeps between tests.
  const freshKey = () => `https://fanout.test/__fanout-cache/composites/test/${Date.now()}-${++counter}`;

  async function stored(change: Partial<CachePolicy> = {}) {
    const key = freshKey();
    const body = JSON.stringify({ hello: "world", n: counter });
    const answer = { body, etag: await etagOf(body), storedAt };
    await store(caches.default, key, answer, { ...policy, ...change });
    return { key, answer };
  }

  it("reads a fresh answer back with its ETag, age and ttl", async () => {
    const { key, answer } = await stored();
    const hit = await lookup(caches.default, key, policy, storedAt + 10_500);
    expect(hit).toEqual({ answer, freshness: "fresh", ageSeconds: 10, ttlSeconds: 19 });
    expect(await lookup(caches.default, key, policy, storedAt)).toMatchObject({ freshness: "fresh", ageSeconds: 0, ttlSeconds: 30 });
    // A clock behind the stored time reads as age 0.
    expect(await lookup(caches.default, key, policy, storedAt - 5_000)).toMatchObject({ freshness: "fresh", ageSeconds: 0 });
  });

  it("is stale from ttlSeconds on, within the SWR window, with a negative ttl", async () => {
    const { key, answer } = await stored();
    expect(await lookup(caches.default, key, policy, storedAt + 29_999)).toMatchObject({ freshness: "fresh" });
    expect(await lookup(caches.default, key, policy, storedAt + 30_000)).toMatchObject({ answer, freshness: "stale", ageSeconds: 30 });
    expect(await lookup(caches.default, key, policy, storedAt + 30_001)).toMatchObject({
      freshness: "stale",
      ageSeconds: 30,
      ttlSeconds: -1,
    });
    expect(await lookup(caches.default, key, policy, storedAt + 329_999)).toMatchObject({
      freshness: "stale",
      ageSeconds: 329,
      ttlSeconds: -300,
    });
  });

  it("is gone beyond ttl + SWR (undefined), and with no SWR window right after the ttl", async () => {
    const { key } = await stored();
    expect(await lookup(caches.default, key, policy, storedAt + 330_000)).toBeUndefined();
    expect(await lookup(caches.default, key, policy, storedAt + 10 * 3_600_000)).toBeUndefined();
    const noSwr = { ...policy, staleWhileRevalidateSeconds: 0 };
    const other = await stored(noSwr);
    expect(await lookup(caches.default, other.key, noSwr, storedAt + 29_000)).toMatchObject({ freshness: "fresh" });
    expect(await lookup(caches.default, other.key, noSwr, storedAt + 30_000)).toBeUndefined();
  });

  it("misses a key nothing was stored under", async () => {
    expect(await lookup(caches.default, freshKey(), policy, storedAt)).toBeUndefined();
  });

  it("stores with a max-age covering ttl + SWR", async () => {
    const { key } = await stored();
    const raw = await caches.default.match(key);
    expect(raw?.headers.get("cache-control")).toBe("public, max-age=330");
    await raw?.body?.cancel();
  });

  it.each([
    ["no stored-at header", { etag: '"abc"' }],
    ["an empty stored-at header", { etag: '"abc"', "fanout-stored-at": "" }],
    ["a stored-at that is not a number", { etag: '"abc"', "fanout-stored-at": "yesterday" }],
    ["no ETag", { "fanout-stored-at": String(storedAt) }],
  ])("ignores a foreign entry with %s", async (_, headers: Record<string, string>) => {
    const key = freshKey();
    await caches.default.put(key, new Response("{}", { headers: { "cache-control": "public, max-age=600", ...headers } }));
    // The entry is there (the Cache API kept it); lookup must still not take it as an answer.
    const raw = await caches.default.match(key);
    expect(raw).toBeDefined();
    await raw?.body?.cancel();
    // Whatever the clock says, even one that would make a stored-at of 0 look fresh.
    for (const now of [0, 1_000, storedAt, Date.now()]) expect(await lookup(caches.default, key, policy, now)).toBeUndefined();
  });
});

describe("cacheStatus", () => {
  const hit = (freshness: CacheLookup["freshness"], ttlSeconds: number): CacheLookup => ({
    answer: { body: "{}", etag: '"x"', storedAt: 0 },
    freshness,
    ageSeconds: 30 - ttlSeconds,
    ttlSeconds,
  });

  it("words hits, stale hits and misses as RFC 9211 does", () => {
    expect(cacheStatus({ hit: hit("fresh", 25) })).toBe("fanout; hit; ttl=25");
    expect(cacheStatus({ hit: hit("stale", -5) })).toBe("fanout; hit; ttl=-5; detail=stale-while-revalidate");
    expect(cacheStatus({ miss: "uri-miss", stored: true })).toBe("fanout; fwd=uri-miss; stored");
    expect(cacheStatus({ miss: "uri-miss", stored: false })).toBe("fanout; fwd=uri-miss");
    expect(cacheStatus({ miss: "bypass", stored: false })).toBe("fanout; fwd=bypass");
    expect(cacheStatus({ miss: "uri-miss", stored: true }, "edge")).toBe("edge; fwd=uri-miss; stored");
  });
});
