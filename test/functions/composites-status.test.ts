import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../functions/index";
import { loadComposites } from "../../lib/composite/catalog";
import { API_KEY, getFrom, UPSTREAM, upstreamCalls, upstreamHits } from "./batch-helpers";
import { call, expectProblem } from "./helpers";

/**
 * Statuses a screen can use (issue 20 §1) and a truthful Vary (§5), in workerd with upstream hit
 * counters: an empty required result answers 404 naming the step's params, never 502; a listed
 * upstream 4xx passes through with fanout's own detail; a 404 is cached only under negativeTtlSeconds.
 */

let unique = 0;
const fresh = (label: string) => `${label}-${Date.now().toString(36)}-${unique++}`;

function appWith(composites: Record<string, unknown>) {
  return createApp(loadComposites({ composites })).app;
}

const get = getFrom;

/** A keyed composite over the counter `key` whose required step is empty when its body has no `items`. */
function emptyCounter(key: string, cache?: Record<string, unknown>) {
  return appWith({
    c: {
      path: "c",
      auth: "apiKey",
      params: { id: { in: "query", type: "integer", required: true } },
      steps: [
        { id: "thing", notFoundWhen: { empty: "items" }, http: { url: `${UPSTREAM}/counter/${key}?for={{params.id}}` } },
        // Reads the empty result, so it fails with reference_missing: the answer is still the 404.
        { id: "detail", http: { url: `${UPSTREAM}/counter/${key}-detail?first={{thing.body.items[0]}}` } },
      ],
      ...(cache ? { cache } : {}),
    },
  });
}

describe("notFoundWhen", () => {
  it("an empty required result is 404 naming the step and its param, even when a step that read it failed", async () => {
    const key = fresh("nf");
    const res = await get(emptyCounter(key), "/v1/c/c?id=7");
    const problem = await expectProblem(res, 404, "not_found");
    expect(problem.detail).toBe('nothing found: step "thing" found nothing for id=7');
    expect(problem.invalidParams).toEqual([{ name: "id", reason: 'step "thing" found nothing for id=7' }]);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await upstreamHits(`/counter/${key}`)).toBe(1);
  });

  it("a result that is there is served as before", async () => {
    const key = fresh("found");
    const app = appWith({
      c: { path: "c", auth: "apiKey", steps: [{ id: "n", notFoundWhen: { empty: "value" }, http: { url: `${UPSTREAM}/counter/${key}` } }] },
    });
    const res = await get(app, "/v1/c/c");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ n: { value: 0 } });
  });

  it("a 404 is never cached without negativeTtlSeconds, even by a cached composite", async () => {
    const key = fresh("nocache");
    const app = emptyCounter(key, { ttlSeconds: 60 });
    for (let i = 0; i < 2; i++) {
      const res = await get(app, "/v1/c/c?id=1");
      await expectProblem(res, 404, "not_found");
      expect(res.headers.get("cache-control")).toBe("no-store");
    }
    expect(await upstreamHits(`/counter/${key}`)).toBe(2);
  });

  it("with negativeTtlSeconds a 404 is cached for that long: the second call makes no upstream call", async () => {
    const key = fresh("negative");
    const app = emptyCounter(key, { ttlSeconds: 60, staleWhileRevalidateSeconds: 300, negativeTtlSeconds: 5 });
    const first = await get(app, "/v1/c/c?id=2");
    await expectProblem(first, 404, "not_found");
    expect(first.headers.get("cache-control")).toBe("private, max-age=5");
    expect(first.headers.get("cache-status")).toBe("fanout; fwd=uri-miss; stored");
    const second = await get(app, "/v1/c/c?id=2");
    const problem = await expectProblem(second, 404, "not_found");
    expect(problem.invalidParams).toEqual([{ name: "id", reason: 'step "thing" found nothing for id=2' }]);
    expect(second.headers.get("cache-status")).toMatch(/^fanout; hit; ttl=[45]$/);
    expect(second.headers.get("cache-control")).toMatch(/^private, max-age=[45]$/);
    expect(await upstreamHits(`/counter/${key}`)).toBe(1);
    // Another id is another key.
    await expectProblem(await get(app, "/v1/c/c?id=3"), 404, "not_found");
    expect(await upstreamHits(`/counter/${key}`)).toBe(2);
  });
});

describe("passStatus", () => {
  const passing = (key: string, codes: string) =>
    appWith({
      c: {
        path: "c",
        auth: "apiKey",
        steps: [{ id: "order", passStatus: [404, 410, 422], http: { url: `${UPSTREAM}/sequence/${key}?codes=${codes}` } }],
        cache: { ttlSeconds: 60 },
      },
    });

  it.each([
    [404, "not_found"],
    [410, "gone"],
    [422, "unprocessable"],
  ])("a listed upstream %i answers as that status with fanout's own detail, never the upstream's body", async (status, code) => {
    const key = fresh(`pass-${status}`);
    const res = await get(passing(key, String(status)), "/v1/c/c");
    const problem = await expectProblem(res, status, code);
    expect(problem.detail).toBe(`required step "order": the upstream answered ${status}`);
    expect(JSON.stringify(problem)).not.toContain('"call"');
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect((await upstreamCalls(key)).at).toHaveLength(1);
  });

  it("a status it does not list (409) and a 5xx stay 502 naming the step", async () => {
    for (const status of [409, 500]) {
      const res = await get(passing(fresh(`keep-${status}`), String(status)), "/v1/c/c");
      const problem = await expectProblem(res, 502, "http_status");
      expect(problem.detail).toContain('required step "order"');
    }
  });
});

describe("the status rules are checked with the composite", () => {
  const step = (extra: Record<string, unknown>) => ({
    c: { path: "c", auth: "apiKey", steps: [{ id: "s", http: { url: `${UPSTREAM}/delay` }, ...extra }] },
  });
  it.each([
    [{ notFoundWhen: "nothing" }, "steps[0].notFoundWhen", 'notFoundWhen is "empty"'],
    [{ notFoundWhen: { empty: "a[" } }, "steps[0].notFoundWhen.empty", ""],
    [{ notFoundWhen: "empty", required: false }, "steps[0].notFoundWhen", "for a required step"],
    [{ passStatus: [500] }, "steps[0].passStatus[0]", "passStatus lists 404, 409, 410, 422"],
    [{ passStatus: [404], required: false }, "steps[0].passStatus", "for a required step"],
    [{ passStatus: [404], forEach: [1, 2] }, "steps[0].passStatus", "an http step without forEach"],
  ])("%j is a named error", (extra, name, reason) => {
    const { broken } = loadComposites({ composites: step(extra) });
    expect(broken[0]?.problems).toContainEqual({ name, reason: expect.stringContaining(reason) });
  });

  it("negativeTtlSeconds is a positive whole number", () => {
    const { broken } = loadComposites({
      composites: { ...step({}), c: { ...step({}).c, cache: { ttlSeconds: 1, negativeTtlSeconds: 0 } } },
    });
    expect(broken[0]?.problems.map((problem) => problem.name)).toEqual(["cache.negativeTtlSeconds"]);
  });
});

describe("Vary", () => {
  it("names each allowed header (varied or only read by a step) and Authorization when the cache is keyed per API key", async () => {
    const app = appWith({
      c: {
        path: "c",
        auth: "apiKey",
        headers: ["accept-language", "x-tenant"],
        steps: [{ id: "n", http: { url: `${UPSTREAM}/counter/${fresh("vary")}?t={{headers.x-tenant}}` } }],
        cache: { ttlSeconds: 60, vary: ["accept-language"], perApiKey: true },
      },
    });
    const res = await get(app, "/v1/c/c");
    expect(res.status).toBe(200);
    expect((res.headers.get("vary") ?? "").toLowerCase().split(/\s*,\s*/)).toEqual(
      expect.arrayContaining(["accept-language", "x-tenant", "authorization"]),
    );
  });
});

describe("the demo home composite: 404 and Vary", () => {
  beforeEach(async () => {
    await env.DB.prepare("INSERT INTO users (id, name, email) VALUES (1, 'Ada Lovelace', 'ada@example.com')").run();
  });
  const home = (query: string, language: string, extra: Record<string, string> = {}) =>
    call(`/v1/c/home?${query}`, { headers: { authorization: `Bearer ${API_KEY}`, "accept-language": language, ...extra } });

  it("GET /v1/c/home?user=99 answers 404 naming user, not 502", async () => {
    const res = await home("user=99", "en");
    const problem = await expectProblem(res, 404, "not_found");
    expect(problem.invalidParams?.map((param) => param.name)).toEqual(["user"]);
    expect(res.headers.get("vary")?.toLowerCase()).toContain("accept-language");
  });

  it("Vary names every header the key or the steps read; another language is not served the first one's answer", async () => {
    const en = await home("user=1", "en");
    expect(en.status).toBe(200);
    const varied = (en.headers.get("vary") ?? "").toLowerCase().split(/\s*,\s*/);
    expect(varied).toContain("accept-language");
    const fr = await home("user=1", "fr");
    expect(fr.headers.get("cache-status")).toMatch(/fwd=uri-miss/);
    expect(((await fr.json()) as { recommendedFor: { lang: string } }).recommendedFor.lang).toBe("fr");
    // A 304 carries the same Vary.
    const revalidated = await home("user=1", "fr", { "if-none-match": fr.headers.get("etag") ?? "" });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get("vary")).toBe(fr.headers.get("vary"));
  });

  it("/openapi.json documents the 404 and Vary", async () => {
    const doc = (await (await call("/openapi.json")).json()) as {
      paths: Record<string, { get: { responses: Record<string, { description: string; headers?: Record<string, unknown> }> } }>;
    };
    const responses = doc.paths["/v1/c/home"]!.get.responses;
    expect(responses["404"]?.description).toMatch(/notFoundWhen.*Cached for 10 s/);
    expect(responses["200"]?.headers).toHaveProperty("Vary");
  });
});
