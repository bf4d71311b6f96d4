import { describe, expect, it } from "vitest";
import type { StepErrorCode } from "../../../lib/base/errors";
import { etagOf } from "../../../lib/base/http";
import type { StepResult } from "../../../lib/batch/scheduler";
import { lookup, store } from "../../../lib/composite/cache";
import { loadComposites } from "../../../lib/composite/catalog";
import type { CachePolicy, CompositeDefinition, CompositeStep } from "../../../lib/composite/definition";
import { MAX_FALLBACK_CHARS, withFallbacks } from "../../../lib/composite/fallback";
import { forwardedHeaders } from "../../../lib/composite/forward";
import { shapeDocument } from "../../../lib/composite/shape";
import { outcomeOf } from "./outcome";

/**
 * Fallback data and forwarded headers in the composite layer: which results a fallback stands in for,
 * how the document and its headers come out, how a cached answer keeps them, and every check the
 * composites file gets, each naming its field.
 */

const ok = (body: unknown, headers: Record<string, string> = {}): StepResult => ({
  ok: true,
  status: 200,
  headers,
  body,
  startMs: 0,
  durationMs: 1,
});
const failed = (code: StepErrorCode, reason?: "condition_false"): StepResult => ({
  ok: false,
  error: { code, message: `${code} happened`, ...(reason ? { reason } : {}) },
  startMs: 0,
  durationMs: 1,
});
const conditionSkipped = failed("skipped", "condition_false");

const step = (id: string, extra: Partial<CompositeStep> = {}): CompositeStep => ({ id, required: false, wait: { ms: 0 }, ...extra });
const fallback = (data: unknown, whenSkipped = false) => ({ fallback: { data, whenSkipped } });

describe("withFallbacks", () => {
  const steps = [
    step("ok", fallback("x")),
    step("failed", fallback({ n: 1 })),
    step("cancelled", fallback([])),
    step("missing", fallback(null)),
    step("skipped", fallback("default", true)),
    step("skippedKept", fallback("never")),
    step("plain"),
  ];
  const results = {
    ok: ok("real"),
    failed: failed("http_status"),
    cancelled: failed("cancelled"),
    skipped: conditionSkipped,
    skippedKept: conditionSkipped,
    plain: failed("timeout"),
  };

  it("stands in for each step that did not succeed; names the failures, never a condition's skip", () => {
    const { results: substituted, fellBack } = withFallbacks(steps, results);
    expect(fellBack).toEqual(["failed", "cancelled", "missing"]);
    expect(substituted.ok).toBe(results.ok);
    expect(substituted.failed).toMatchObject({ ok: true, body: { n: 1 }, headers: {} });
    expect(substituted.cancelled).toMatchObject({ ok: true, body: [] });
    expect(substituted.missing).toMatchObject({ ok: true, body: null });
    expect(substituted.skipped).toMatchObject({ ok: true, body: "default" });
    expect(substituted.skippedKept).toBe(conditionSkipped);
    expect(substituted.plain).toBe(results.plain);
  });
});

function definitionOf(steps: CompositeStep[], extra: Partial<CompositeDefinition> = {}): CompositeDefinition {
  return { name: "t", path: "t", auth: "apiKey", demo: false, params: {}, headers: [], steps, mode: "allSettled", ...extra };
}

const noInputs = { params: {}, query: {}, headers: {} };

describe("shapeDocument with fallbacks and forwarded headers", () => {
  it("shapes a fallback by the step's rule and reads it in fields; the step is named as fallen back, not incomplete", () => {
    const definition = definitionOf([step("user", { required: true }), step("promo", fallback({ title: "Sale", secret: 1, items: [1] }))], {
      output: { steps: { user: {}, promo: { deny: ["secret"] } }, fields: { all: { concat: ["{{promo.body.items}}", [2]] } } },
    });
    const answer = shapeDocument(definition, outcomeOf({ user: ok({ id: 1 }), promo: failed("timeout") }), noInputs);
    expect(answer).toEqual({
      document: { user: { id: 1 }, promo: { title: "Sale", items: [1] }, all: [1, 2] },
      incomplete: [],
      fallback: ["promo"],
      headers: {},
    });
  });

  it("forwards the declared headers of steps that succeeded, within the length limit, and only own fields", () => {
    const results = {
      a: ok(1, { "x-ratelimit-remaining": "7", "x-other": "no", "x-long": "x".repeat(1025), "x-latin": "caf\u00e9" }),
      b: failed("http_status"),
    };
    const declared = { "x-ratelimit-remaining": "a", "x-long": "a", "x-latin": "a", "x-gone": "b", constructor: "a", "x-absent": "a" };
    expect(forwardedHeaders(declared, results)).toEqual({ "x-ratelimit-remaining": "7" });
    expect(forwardedHeaders(undefined, results)).toEqual({});
  });
});

describe("a cached answer keeps its fallbacks and forwarded headers", () => {
  const policy: CachePolicy = { ttlSeconds: 60, staleWhileRevalidateSeconds: 300, vary: [], perApiKey: false, fallbackTtlSeconds: 10 };
  const storedAt = 1_700_000_000_000;
  let counter = 0;

  async function stored(extra: { fallback?: string[]; headers?: Record<string, string> }, change: Partial<CachePolicy> = {}) {
    const key = `https://fanout.test/__fanout-cache/composites/fb/${Date.now()}-${++counter}`;
    const body = JSON.stringify({ n: counter });
    const answer = { body, etag: await etagOf(body), storedAt, ...extra };
    await store(caches.default, key, answer, { ...policy, ...change });
    return { key, answer };
  }

  it("replays both on a hit; an answer with fallbacks lives fallbackTtlSeconds and is never served stale", async () => {
    const { key, answer } = await stored({ fallback: ["promo", "ads"], headers: { "x-ratelimit-remaining": "7" } });
    expect(await lookup(caches.default, key, policy, storedAt + 9_000)).toMatchObject({ answer, freshness: "fresh", ttlSeconds: 1 });
    expect(await lookup(caches.default, key, policy, storedAt + 10_000)).toBeUndefined();
  });

  it("a complete answer keeps its forwarded headers for the whole ttl + SWR", async () => {
    const { key, answer } = await stored({ headers: { "x-kept": "yes" } });
    expect(await lookup(caches.default, key, policy, storedAt + 100_000)).toMatchObject({ answer, freshness: "stale" });
  });

  it("an answer with fallbacks is not stored without fallbackTtlSeconds", async () => {
    const { key } = await stored({ fallback: ["promo"] }, { fallbackTtlSeconds: undefined });
    expect(await caches.default.match(key)).toBeUndefined();
  });
});

describe("the composites file's checks, each naming its field", () => {
  const base = (change: Record<string, unknown> = {}, steps?: unknown[]) => ({
    path: "c",
    auth: "apiKey",
    steps: steps ?? [
      { id: "main", http: { url: "https://api.example.com/main" } },
      { id: "promo", required: false, when: "params.x == 1", http: { url: "https://api.example.com/promo" } },
    ],
    params: { x: { in: "query", type: "integer" } },
    ...change,
  });
  const withPromo = (promo: Record<string, unknown>, change: Record<string, unknown> = {}) =>
    base(change, [
      { id: "main", http: { url: "https://api.example.com/main" } },
      { id: "promo", required: false, http: { url: "https://api.example.com/promo" }, ...promo },
    ]);

  it.each([
    ["a fallback on a required step", withPromo({ required: true, fallback: { data: 1 } }), "steps[1].fallback", /for an optional step/],
    ["a fallback without data", withPromo({ fallback: {} }), "steps[1].fallback.data", /needs "data"/],
    [
      "a misspelt fallback key",
      withPromo({ fallback: { data: 1, whenSkiped: true } }),
      "steps[1].fallback.whenSkiped",
      /did you mean `whenSkipped`/,
    ],
    [
      "fallback data over the limit",
      withPromo({ fallback: { data: "x".repeat(MAX_FALLBACK_CHARS) } }),
      "steps[1].fallback.data",
      /MAX_FALLBACK_CHARS/,
    ],
    [
      "whenSkipped with no when anywhere",
      withPromo({ fallback: { data: 1, whenSkipped: true } }),
      "steps[1].fallback.whenSkipped",
      /no step has a when/,
    ],
    [
      "fallback data without the step's output target",
      withPromo({ fallback: { data: { other: 1 } } }, { output: { steps: { promo: { target: "banner" } } } }),
      "steps[1].fallback.data",
      /no output target "banner".*output\.steps\.promo/,
    ],
    [
      "fallback data a merge cannot spread",
      withPromo({ fallback: { data: [1] } }, { output: { steps: { promo: { merge: true } } } }),
      "steps[1].fallback.data",
      /output merge needs an object/,
    ],
    [
      "fallbackTtlSeconds with no fallback",
      base({ cache: { ttlSeconds: 60, fallbackTtlSeconds: 5 } }),
      "cache.fallbackTtlSeconds",
      /no step declares a fallback/,
    ],
    [
      "fallbackTtlSeconds over ttlSeconds",
      withPromo({ fallback: { data: 1 } }, { cache: { ttlSeconds: 5, fallbackTtlSeconds: 60 } }),
      "cache.fallbackTtlSeconds",
      /at most ttlSeconds \(5\)/,
    ],
    [
      "a field reading a path the fallback data lacks",
      withPromo({ fallback: { data: { a: 1 } } }, { output: { fields: { b: "{{promo.body.b}}" } } }),
      "output.fields.b",
      /no field "b".*when promo falls back/,
    ],
    ["a forwarded set-cookie", base({ forwardHeaders: { "set-cookie": "main" } }), "forwardHeaders.set-cookie", /credentials and cookies/],
    ["a forwarded hop-by-hop header", base({ forwardHeaders: { connection: "main" } }), "forwardHeaders.connection", /hop-by-hop/],
    [
      "a forwarded header of fanout's own",
      base({ forwardHeaders: { "fanout-fallback": "main" } }),
      "forwardHeaders.fanout-fallback",
      /fanout sets/,
    ],
    ["a forwarded Cache-Control", base({ forwardHeaders: { "cache-control": "main" } }), "forwardHeaders.cache-control", /fanout sets/],
    ["a forwarded name in upper case", base({ forwardHeaders: { "X-Rate": "main" } }), "forwardHeaders.X-Rate", /lower case/],
    [
      "a forwarded header from no step",
      base({ forwardHeaders: { "x-rate": "mian" } }),
      "forwardHeaders.x-rate",
      /no step "mian"; did you mean `main`/,
    ],
    [
      "a forwarded header from a step that is not http",
      base({ forwardHeaders: { "x-rate": "w" } }, [{ id: "w", wait: { ms: 1 } }]),
      "forwardHeaders.x-rate",
      /not an http step/,
    ],
    [
      "a forwarded header from a forEach",
      base({ forwardHeaders: { "x-rate": "f" } }, [{ id: "f", forEach: [1, 2], http: { url: "https://api.example.com/{{item}}" } }]),
      "forwardHeaders.x-rate",
      /without forEach/,
    ],
    [
      "more than 10 forwarded headers",
      base({ forwardHeaders: Object.fromEntries(Array.from({ length: 11 }, (_, n) => [`x-h${n}`, "main"])) }),
      "forwardHeaders",
      /MAX_FORWARDED_HEADERS/,
    ],
  ])("%s", (_, declaration, name, reason) => {
    const { composites, broken } = loadComposites({ composites: { c: declaration } });
    expect(composites).toEqual([]);
    expect(broken[0]?.problems, JSON.stringify(broken[0]?.problems)).toContainEqual({ name, reason: expect.stringMatching(reason) });
  });

  it("a valid declaration of each loads", () => {
    const declaration = withPromo(
      { fallback: { data: { banner: { text: "Sale" } } } },
      {
        output: { steps: { main: {}, promo: { target: "banner" } }, fields: { text: "{{promo.body.banner.text}}" } },
        forwardHeaders: { "x-ratelimit-remaining": "main" },
        cache: { ttlSeconds: 60, fallbackTtlSeconds: 10 },
      },
    );
    expect(loadComposites({ composites: { c: declaration } }).broken).toEqual([]);
  });
});
