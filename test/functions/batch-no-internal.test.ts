import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { postBatch, runBatchJson, UPSTREAM } from "./batch-helpers";
import { expectProblem } from "./helpers";

/**
 * Inputs the schema once accepted and a step then failed as `internal`: each is refused up front
 * with a 400 naming the field, or (when only a reference can produce it) fails its step with a code
 * that says what is wrong.
 */

const nested = (depth: number): unknown => JSON.parse("[".repeat(depth) + "]".repeat(depth));

describe("refused up front with a 400 naming the field", () => {
  it.each([
    ["a GET with a body", { id: "a", http: { url: `${UPSTREAM}/echo`, body: "x" } }, "steps[0].http.body", "GET request has no body"],
    [
      "a HEAD with a body",
      { id: "a", http: { url: `${UPSTREAM}/echo`, method: "HEAD", body: { a: 1 } } },
      "steps[0].http.body",
      "HEAD request has no body",
    ],
    [
      "a header value with CR LF",
      { id: "a", http: { url: `${UPSTREAM}/echo`, headers: { "x-a": "1\r\nx-b: 2" } } },
      "steps[0].http.headers.x-a",
      "CR, LF or NUL",
    ],
    [
      "a header value with non-ASCII text",
      { id: "a", http: { url: `${UPSTREAM}/echo`, headers: { "x-a": "caf\u00e9" } } },
      "steps[0].http.headers.x-a",
      "printable ASCII",
    ],
    [
      "a header value with NUL",
      { id: "a", http: { url: `${UPSTREAM}/echo`, headers: { "x-a": "a\u0000b" } } },
      "steps[0].http.headers.x-a",
      "CR, LF or NUL",
    ],
    ["a pick path a..b", { id: "a", http: { url: `${UPSTREAM}/echo`, pick: ["a..b"] } }, "steps[0].http.pick[0]", 'pick path "a..b"'],
    ["a pick path [", { id: "a", http: { url: `${UPSTREAM}/echo`, pick: ["["] } }, "steps[0].http.pick[0]", 'pick path "["'],
    ["a javascript: URL", { id: "a", http: { url: "javascript:alert(1)" } }, "steps[0].http.url", "http(s)"],
    ["a file: URL", { id: "a", http: { url: "file:///etc/passwd" } }, "steps[0].http.url", "http(s)"],
    ["a data: URL", { id: "a", cache: { url: "data:text/plain,hi" } }, "steps[0].cache.url", "http(s)"],
    [
      "a forEach that is not a reference",
      { id: "a", wait: { ms: 1 }, forEach: "items" },
      "steps[0].forEach",
      "a reference to an array, written as one {{...}}",
    ],
    ["a forEach that is a number", { id: "a", wait: { ms: 1 }, forEach: 5 }, "steps[0].forEach", "an array, or a {{reference}} to one"],
    [
      "a body nested 33 levels deep",
      { id: "a", http: { url: `${UPSTREAM}/echo`, method: "POST", body: nested(33) } },
      "steps[0].http.body",
      "nested deeper than 32 levels",
    ],
    [
      "a body nested 5,000 levels deep",
      { id: "a", http: { url: `${UPSTREAM}/echo`, method: "POST", body: nested(5000) } },
      "steps[0].http.body",
      "nested deeper than 32 levels",
    ],
    [
      "a forEach item nested too deep",
      { id: "a", wait: { ms: 1 }, forEach: [nested(40)] },
      "steps[0].forEach[0]",
      "nested deeper than 32 levels",
    ],
    [
      "a D1 query given too many params",
      { id: "a", d1: { query: "userById", params: [1, 2] } },
      "steps[0].d1.params",
      "takes 1 parameter(s), got 2",
    ],
    ["a D1 query given no params", { id: "a", d1: { query: "userById" } }, "steps[0].d1.params", "takes 1 parameter(s), got 0"],
  ])("%s", async (_, step, name, reason) => {
    const problem = await expectProblem(await postBatch({ steps: [step] }), 400, "validation_failed");
    const param = problem.invalidParams?.find((candidate) => candidate.name === name);
    expect(param, JSON.stringify(problem.invalidParams)).toBeDefined();
    expect(param!.reason).toContain(reason);
  });

  it("a body nested exactly 32 levels deep is accepted", async () => {
    const { res, json } = await runBatchJson({ steps: [{ id: "a", http: { url: `${UPSTREAM}/echo`, method: "POST", body: nested(32) } }] });
    expect(res.status).toBe(200);
    expect(json.results.a!.ok).toBe(true);
  });

  it("a literal forEach longer than MAX_STEPS is limit_exceeded (400), not a 200 with a failed step", async () => {
    const problem = await expectProblem(
      await postBatch({ steps: [{ id: "a", wait: { ms: 0 }, forEach: Array.from({ length: 101 }, (_, i) => i) }] }),
      400,
      "limit_exceeded",
    );
    expect(problem.invalidParams).toEqual([{ name: "steps[0].forEach", reason: "at most 100 steps after forEach expansion (MAX_STEPS)" }]);
    const ok = await postBatch({ steps: [{ id: "a", wait: { ms: 0 }, forEach: Array.from({ length: 100 }, (_, i) => i) }] });
    expect(ok.status).toBe(200);
  });
});

describe("failures only a reference or the data can cause fail the step with a code that says why", () => {
  it("a header value that renders with CR LF fails validation_failed (it is not trimmed)", async () => {
    const { json } = await runBatchJson({
      steps: [
        { id: "src", http: { url: `${UPSTREAM}/echo`, method: "POST", body: "line1\r\nline2" } },
        { id: "a", http: { url: `${UPSTREAM}/echo`, headers: { "x-a": "{{src.body.body}}" } } },
      ],
    });
    expect(json.results.a).toMatchObject({ ok: false, error: { code: "validation_failed" } });
    expect(json.results.a!.error!.message).toContain("header x-a");
  });

  it("a URL that renders to javascript: fails forbidden_target", async () => {
    const { json } = await runBatchJson({
      steps: [
        { id: "src", http: { url: `${UPSTREAM}/echo`, method: "POST", body: "javascript:alert(1)" } },
        { id: "a", http: { url: "{{src.body.body}}" } },
      ],
    });
    expect(json.results.a).toMatchObject({ ok: false, error: { code: "forbidden_target" } });
  });

  it("storage failures name their reason and are never internal", async () => {
    await env.KV.put("test:not-json", "plain text");
    await env.BUCKET.put("test/plain.txt", "plain");
    const { json } = await runBatchJson({
      steps: [
        { id: "kv", kv: { key: "test:not-json", type: "json" } },
        { id: "range", r2: { key: "test/plain.txt", range: { offset: 100 } } },
        { id: "r2json", r2: { key: "test/plain.txt", as: "json" } },
      ],
    });
    expect(json.results.kv!.error).toEqual({
      code: "storage_error",
      message: 'the KV value of "test:not-json" is not valid JSON (read it with type "text")',
    });
    expect(json.results.range!.error).toMatchObject({
      code: "storage_error",
      message: expect.stringContaining("past the end of R2 object"),
    });
    expect(json.results.r2json!.error).toMatchObject({ code: "storage_error", message: expect.stringContaining("is not valid JSON") });
  });
});

describe("hostile data from storage and upstreams never takes the answer down", () => {
  const deepText = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

  it("a JSON value nested deeper than 256 levels fails its step (response_too_large); the batch still answers 200", async () => {
    await env.KV.put("test:deep", deepText(20_000));
    await env.BUCKET.put("test/deep.json", deepText(20_000));
    await env.KV.put("test:ok-deep", deepText(256));
    const { res, json } = await runBatchJson({
      steps: [
        { id: "kv", kv: { key: "test:deep", type: "json" } },
        { id: "r2", r2: { key: "test/deep.json", as: "json" } },
        { id: "use", http: { url: "{{kv.body}}" } },
        { id: "fine", kv: { key: "test:ok-deep", type: "json" } },
        { id: "text", kv: { key: "test:deep" } },
      ],
    });
    expect(res.status).toBe(200);
    expect(json.results.kv!.error).toMatchObject({
      code: "response_too_large",
      message: expect.stringContaining("deeper than 256 levels"),
    });
    expect(json.results.r2!.error).toMatchObject({ code: "response_too_large" });
    expect(json.results.use!.error!.code).toBe("skipped");
    expect(json.results.fine!.ok).toBe(true);
    expect(json.results.text!.ok).toBe(true);
  });

  it("a lone surrogate rendered into a URL fails that step with validation_failed, not a 500", async () => {
    await env.BUCKET.put("test/odd.json", '{"value":"\\ud800"}');
    const { res, json } = await runBatchJson({
      steps: [
        { id: "s", r2: { key: "test/odd.json", as: "json" } },
        { id: "t", http: { url: "/v1/sim/status/200?x={{s.body.value}}" } },
      ],
    });
    expect(res.status).toBe(200);
    expect(json.results.t!.error).toMatchObject({ code: "validation_failed", message: expect.stringContaining("lone surrogate") });
  });

  it("an idempotencyKey with CR, LF or NUL is refused up front, and one rendered with them fails its step", async () => {
    const problem = await expectProblem(
      await postBatch({ steps: [{ id: "a", http: { url: `${UPSTREAM}/echo`, idempotencyKey: "k\u0000" } }] }),
      400,
      "validation_failed",
    );
    expect(problem.invalidParams?.map((param) => param.name)).toContain("steps[0].http.idempotencyKey");
    const { json } = await runBatchJson({
      steps: [
        { id: "src", http: { url: `${UPSTREAM}/echo`, method: "POST", body: "a\r\nb" } },
        { id: "a", http: { url: `${UPSTREAM}/echo`, method: "POST", idempotencyKey: "{{src.body.body}}" } },
      ],
    });
    expect(json.results.a).toMatchObject({ ok: false, error: { code: "validation_failed" } });
  });
});
