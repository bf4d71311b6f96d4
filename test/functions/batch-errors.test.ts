import { beforeEach, describe, expect, it } from "vitest";
import { postBatch, resetUpstream, runBatchJson, UNLISTED, UPSTREAM } from "./batch-helpers";
import { expectProblem } from "./helpers";

/**
 * Errors that say what to do, each held to its exact text as the client reads it: `invalid json:` only
 * for a body that does not parse, an unknown key with the nearest valid one, the setting that refused a
 * target, the D1 queries there are, the fields a reference could have read, and a retried step's attempts.
 */

beforeEach(async () => {
  await resetUpstream();
});

/** The problem of a refused batch: its detail and invalidParams. */
async function refused(body: unknown): Promise<{ detail: string; invalidParams: unknown }> {
  const { detail, invalidParams } = await expectProblem(await postBatch(body), 400, "validation_failed");
  return { detail, invalidParams };
}

describe("invalid json: only for a body that does not parse", () => {
  it("a syntax error is `invalid json:` with the parser's message, at `body`", async () => {
    const reason = "Expected property name or '}' in JSON at position 2 (line 1 column 3)";
    expect(await refused("{ not json")).toEqual({ detail: `invalid json: ${reason}`, invalidParams: [{ name: "body", reason }] });
    const empty = "Unexpected end of JSON input";
    expect(await refused("")).toEqual({ detail: `invalid json: ${empty}`, invalidParams: [{ name: "body", reason: empty }] });
  });

  it("a body sent as another media type is 415 naming Content-Type, never parsed as JSON", async () => {
    const res = await postBatch("a=1&b=2", { "content-type": "application/x-www-form-urlencoded" });
    const problem = await expectProblem(res, 415, "unsupported_media_type");
    expect(problem.invalidParams).toEqual([{ name: "Content-Type", reason: "must be application/json" }]);
  });

  it("valid JSON that does not fit is `invalid batch:`, naming the field", async () => {
    expect(await refused({ steps: [] })).toEqual({
      detail: "invalid batch: steps: a batch has at least one step",
      invalidParams: [{ name: "steps", reason: "a batch has at least one step" }],
    });
  });
});

describe("an unknown key gets the nearest valid one (did you mean)", () => {
  it("in a step's kind, in a step and at the top level, each key on its own", async () => {
    const body = {
      steps: [
        { id: "a", http: { url: `${UPSTREAM}/echo`, timeout: 5 } },
        { id: "b", wait: { ms: 1 }, dependson: ["a"], extra: 1 },
      ],
      deadline: 500,
    };
    expect(await refused(body)).toEqual({
      detail: [
        'invalid batch: steps[0].http: unknown key "timeout"; did you mean `timeoutMs`?',
        'steps[1]: unknown key "dependson"; did you mean `dependsOn`?',
        'steps[1]: unknown key "extra"',
        'body: unknown key "deadline"; did you mean `deadlineMs`?',
      ].join("; "),
      invalidParams: [
        { name: "steps[0].http", reason: 'unknown key "timeout"; did you mean `timeoutMs`?' },
        { name: "steps[1]", reason: 'unknown key "dependson"; did you mean `dependsOn`?' },
        { name: "steps[1]", reason: 'unknown key "extra"' },
        { name: "body", reason: 'unknown key "deadline"; did you mean `deadlineMs`?' },
      ],
    });
  });

  it("inside nested options (http.retry)", async () => {
    const body = { steps: [{ id: "a", http: { url: `${UPSTREAM}/echo`, retry: { attempts: 2, baseDelay: 5 } } }] };
    expect((await refused(body)).invalidParams).toEqual([
      { name: "steps[0].http.retry", reason: 'unknown key "baseDelay"; did you mean `baseDelayMs`?' },
    ]);
  });
});

describe("an unknown D1 query lists the configured names", () => {
  it.each([
    ["userByld", 'no named query "userByld" (D1_QUERIES: userById, ordersByUser); did you mean `userById`?'],
    ["dropEverything", 'no named query "dropEverything" (D1_QUERIES: userById, ordersByUser)'],
  ])("%s", async (query, reason) => {
    expect(await refused({ steps: [{ id: "a", d1: { query } }] })).toEqual({
      detail: `invalid batch: steps[0].d1.query: ${reason}`,
      invalidParams: [{ name: "steps[0].d1.query", reason }],
    });
  });
});

describe("forbidden_target names UPSTREAM_ALLOWLIST", () => {
  const origin = UNLISTED;

  it("a step's target, a redirect and a callback", async () => {
    const redirect = `${UPSTREAM}/redirect?to=${encodeURIComponent(`${UNLISTED}/echo`)}`;
    const { json } = await runBatchJson({
      steps: [
        { id: "target", http: { url: `${UNLISTED}/echo?token=secret` } },
        { id: "hop", http: { url: redirect } },
      ],
    });
    expect(json.results.target!.error).toEqual({
      code: "forbidden_target",
      message: `${origin} is not on the upstream allow-list (UPSTREAM_ALLOWLIST)`,
    });
    expect(json.results.hop!.error).toEqual({
      code: "redirect_blocked",
      message: `redirect refused: ${origin} is not on the upstream allow-list (UPSTREAM_ALLOWLIST)`,
    });
    const callback = { url: `${UNLISTED}/webhook/x` };
    const problem = await expectProblem(await postBatch({ steps: [{ id: "w", wait: { ms: 1 } }], callback }), 400, "validation_failed");
    expect(problem.detail).toBe(`callback.url: ${origin} is not on the upstream allow-list (UPSTREAM_ALLOWLIST)`);
  });
});

describe("reference_missing lists what exists at the failing point", () => {
  const wide = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`f${i}`, i]));

  it.each([
    ["an object's fields", { id: 1, name: "x" }, "{{item.nme}}", 'no field "nme" in an object (fields: id, name)'],
    [
      "ten of them and how many more",
      wide,
      "{{item.f12}}",
      'no field "f12" in an object (fields: f0, f1, f2, f3, f4, f5, f6, f7, f8, f9 and 2 more)',
    ],
    ["an array's length", [1, 2, 3], "{{item[5]}}", "no element [5] in an array of 3"],
    ["an empty object", {}, "{{item.id}}", 'no field "id" in an empty object'],
  ])("%s", async (_, item, reference, why) => {
    const { json } = await runBatchJson({ steps: [{ id: "a", forEach: [item], http: { url: `${UPSTREAM}/echo?v=${reference}` } }] });
    expect(json.results.a!.items![0]!.error).toEqual({ code: "reference_missing", message: `${reference}: ${why}` });
  });
});

describe("attempts is on every http step's result", () => {
  it("a retried step the deadline ended mid-retry says how many attempts it made", async () => {
    // The first call answers 503 (retried at once), the second never answers: only the deadline ends it.
    const { json } = await runBatchJson({
      deadlineMs: 1000,
      steps: [{ id: "r", http: { url: `${UPSTREAM}/sequence/mid?codes=503,0`, retry: { attempts: 3, baseDelayMs: 1 } } }],
    });
    expect(json.results.r).toMatchObject({ ok: false, attempts: 2, error: { code: "deadline_exceeded" } });
  });

  it("a retried step the mode cancelled mid-retry says so too", async () => {
    // By the time "fails" fails (after the 200 ms gate), "r" is in its second call, which never answers.
    const { json } = await runBatchJson({
      mode: "all",
      steps: [
        { id: "r", http: { url: `${UPSTREAM}/sequence/cancel?codes=503,0`, retry: { attempts: 3, baseDelayMs: 1 } } },
        { id: "gate", wait: { ms: 200 } },
        { id: "fails", http: { url: `${UPSTREAM}/status/404` }, dependsOn: ["gate"] },
      ],
    });
    expect(json.results.r).toMatchObject({ ok: false, attempts: 2, error: { code: "cancelled" } });
  });
});
