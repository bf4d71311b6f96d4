import { describe, expect, it, vi } from "vitest";
import { BatchRequest } from "../../functions/routes/batch-schema";
import { parseCommonBatch } from "../../lib/batch/common-batch";
import { postBatch, postBatchWithEnv, UPSTREAM } from "./batch-helpers";
import { expectProblem } from "./helpers";

const oneWait = { steps: [{ id: "w", wait: { ms: 1 } }] };

describe("POST /v1/batch authentication", () => {
  it("answers 401 with a Bearer challenge without a key", async () => {
    const res = await postBatch(oneWait, { authorization: "" });
    await expectProblem(res, 401, "unauthorized");
    expect(res.headers.get("www-authenticate")).toContain("Bearer");
  });

  it("answers 401 for a wrong key and accepts every configured key", async () => {
    await expectProblem(await postBatch(oneWait, { authorization: "Bearer test-key-0123456780" }), 401, "unauthorized");
    expect((await postBatch(oneWait, { authorization: "Bearer other-key-0123456789" })).status).toBe(200);
  });

  it("answers 503 not_configured when no keys are configured: never open by accident", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      await expectProblem(await postBatchWithEnv({ API_KEYS: "" }, oneWait), 503, "not_configured");
      // The operator's log line says which setting is missing.
      expect(logged.mock.calls.map(([line]) => String(line))).toContainEqual(expect.stringMatching(/"code":"not_configured".*API_KEYS/));
    } finally {
      logged.mockRestore();
    }
  });
});

describe("POST /v1/batch validation names the JSON path", () => {
  it.each([
    ["malformed JSON", "{ not json", "body"],
    ["no steps", { steps: [] }, "steps"],
    ["a step with two kinds", { steps: [{ id: "a", wait: { ms: 1 }, kv: { key: "flags:x" } }] }, "steps[0]"],
    ["a step with no kind", { steps: [{ id: "a" }] }, "steps[0]"],
    ["a bad id", { steps: [{ id: "no spaces", wait: { ms: 1 } }] }, "steps[0].id"],
    ["an unknown field", { steps: [{ id: "a", wait: { ms: 1 }, extra: 1 }] }, "steps[0]"],
    [
      "a hedge on POST",
      { steps: [{ id: "a", http: { url: `${UPSTREAM}/echo`, method: "POST", hedge: { afterMs: 10 } } }] },
      "steps[0].http.hedge",
    ],
    [
      "a forbidden header",
      { steps: [{ id: "a", http: { url: `${UPSTREAM}/echo`, headers: { Host: "evil.example" } } }] },
      "steps[0].http.headers.Host",
    ],
    ["a relative URL outside the sim", { steps: [{ id: "a", http: { url: "/v1/batch" } }] }, "steps[0].http.url"],
    ["an unknown mode", { ...oneWait, mode: "some" }, "mode"],
    [
      "an unknown reference",
      {
        steps: [
          { id: "a", wait: { ms: 1 } },
          { id: "b", http: { url: `${UPSTREAM}/x/{{c.body.id}}` } },
        ],
      },
      "steps[1].http.url",
    ],
    ["an unknown dependsOn", { steps: [{ id: "a", wait: { ms: 1 }, dependsOn: ["zz"] }] }, "steps[0].dependsOn[0]"],
    [
      "a duplicate id",
      {
        steps: [
          { id: "a", wait: { ms: 1 } },
          { id: "a", wait: { ms: 1 } },
        ],
      },
      "steps[1].id",
    ],
    ["an unknown D1 query", { steps: [{ id: "a", d1: { query: "dropEverything" } }] }, "steps[0].d1.query"],
    ["kv with key and keys", { steps: [{ id: "a", kv: { key: "flags:a", keys: ["flags:b"] } }] }, "steps[0].kv"],
    ["a negative expectedMs", { steps: [{ id: "a", wait: { ms: 1 }, expectedMs: -1 }] }, "steps[0].expectedMs"],
    ["an expectedMs over 300000", { steps: [{ id: "a", wait: { ms: 1 }, expectedMs: 300_001 }] }, "steps[0].expectedMs"],
    ["a fractional expectedMs", { steps: [{ id: "a", wait: { ms: 1 }, expectedMs: 1.5 }] }, "steps[0].expectedMs"],
  ])("refuses %s", async (_, body, name) => {
    const problem = await expectProblem(await postBatch(body), 400, "validation_failed");
    expect(problem.invalidParams?.map((param) => param.name)).toContain(name);
  });

  it("accepts an expectedMs hint from 0 to 300000 (a hint, never a limit: the step runs its full time)", async () => {
    const res = await postBatch({
      steps: [
        { id: "a", wait: { ms: 30 }, expectedMs: 0 },
        { id: "b", wait: { ms: 1 }, expectedMs: 300_000 },
      ],
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { counts: { ok: number } };
    expect(body.counts.ok).toBe(2);
  });

  it("names the members of a dependency cycle", async () => {
    const problem = await expectProblem(
      await postBatch({
        steps: [
          { id: "a", wait: { ms: 1 }, dependsOn: ["b"] },
          { id: "b", wait: { ms: 1 }, dependsOn: ["a"] },
        ],
      }),
      400,
      "validation_failed",
    );
    expect(problem.detail).toBe("invalid batch: dependency cycle between a, b");
  });
});

describe("POST /v1/batch content type", () => {
  it("answers 415 naming Content-Type for a non-JSON body, never a 500", async () => {
    const problem = await expectProblem(
      await postBatch(oneWait, { "content-type": "application/x-www-form-urlencoded" }),
      415,
      "unsupported_media_type",
    );
    expect(problem.invalidParams).toEqual([{ name: "Content-Type", reason: "must be application/json" }]);
  });
});

describe("POST /v1/batch limits are enforced and named", () => {
  it("refuses a body over MAX_BODY_BYTES with 413", async () => {
    const big = { steps: [{ id: "a", http: { url: `${UPSTREAM}/echo`, method: "POST", body: "x".repeat(300 * 1024) } }] };
    const problem = await expectProblem(await postBatch(big), 413, "payload_too_large");
    expect(problem.detail).toContain("MAX_BODY_BYTES");
  });

  it("counts a chunked body on the stream, without a Content-Length", async () => {
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await postBatch(body as unknown as string, {}, { body, duplex: "half" } as RequestInit);
    expect(res.headers.get("content-length")).not.toBe("0");
    await expectProblem(res, 413, "payload_too_large");
  });

  it("refuses more steps than MAX_STEPS", async () => {
    const steps = Array.from({ length: 101 }, (_, i) => ({ id: `w${i}`, wait: { ms: 1 } }));
    const problem = await expectProblem(await postBatch({ steps }), 400, "limit_exceeded");
    expect(problem.detail).toContain("MAX_STEPS");
  });

  it("refuses a concurrency over MAX_CONCURRENCY and a deadline over MAX_DEADLINE_MS", async () => {
    const problem = await expectProblem(await postBatch({ ...oneWait, concurrency: 51, deadlineMs: 30_001 }), 400, "limit_exceeded");
    expect(problem.invalidParams).toEqual([
      { name: "concurrency", reason: "at most 50 (MAX_CONCURRENCY)" },
      { name: "deadlineMs", reason: "at most 30000 ms (MAX_DEADLINE_MS)" },
    ]);
  });

  it("refuses a plan whose worst-case subrequests exceed SUBREQUEST_BUDGET, before running anything", async () => {
    const steps = Array.from({ length: 100 }, (_, i) => ({ id: `s${i}`, http: { url: `${UPSTREAM}/echo`, retry: { attempts: 2 } } }));
    // 100 steps x 2 attempts x 6 hops (the first call and 5 redirects) = 1,200: over a budget of 1,000.
    const problem = await expectProblem(await postBatchWithEnv({ SUBREQUEST_BUDGET: "1000" }, { steps }), 400, "limit_exceeded");
    expect(problem.detail).toContain("1200 subrequests");
    expect(problem.detail).toContain("SUBREQUEST_BUDGET");
  });
});

describe("POST /v1/batch never answers 5xx to bad input", () => {
  it.each([
    ["null", "null"],
    ["an array", "[]"],
    ["a string", '"steps"'],
    ["steps: null", { steps: null }],
    ["a null step", { steps: [null] }],
    ["a numeric url", { steps: [{ id: "a", http: { url: 5 } }] }],
    ["a negative wait", { steps: [{ id: "a", wait: { ms: -1 } }] }],
    ["a huge wait", { steps: [{ id: "a", wait: { ms: 1e12 } }] }],
    [
      "a malformed reference",
      {
        steps: [
          { id: "a", wait: { ms: 1 } },
          { id: "b", http: { url: "https://x.example/{{a..body}}" } },
        ],
      },
    ],
    ["an unclosed reference", { steps: [{ id: "a", wait: { ms: 1 }, forEach: "{{" }] }],
    [
      "forEach over a non-array",
      {
        steps: [
          { id: "a", wait: { ms: 1 } },
          { id: "b", forEach: "{{a.body.waitedMs}}", wait: { ms: 1 } },
        ],
      },
    ],
    [
      "a reference to a non-string url",
      {
        steps: [
          { id: "a", wait: { ms: 1 } },
          { id: "b", http: { url: "{{a.body}}" } },
        ],
      },
    ],
    ["retry attempts over 5", { steps: [{ id: "a", http: { url: "/v1/sim/delay/1", retry: { attempts: 50 } } }] }],
    ["a 101-key bulk read", { steps: [{ id: "a", kv: { keys: Array.from({ length: 101 }, (_, i) => `flags:${i}`) } }] }],
    [
      "a deeply nested body",
      { steps: [{ id: "a", http: { url: "/v1/sim/delay/1", method: "POST", body: JSON.parse("[".repeat(200) + "]".repeat(200)) } }] },
    ],
  ])("%s", async (_, body) => {
    const res = await postBatch(body);
    expect(res.status).toBeLessThan(500);
    if (res.status >= 400) expect(res.headers.get("content-type")).toBe("application/problem+json");
  });
});

describe("POST /v1/batch: the common batch's hand-written check", () => {
  it("the route's schema answers a common batch with the hand-written check's value, and anything else as zod does", async () => {
    const common = {
      steps: [
        { id: "a", http: { url: `${UPSTREAM}/delay?ms=1` } },
        { id: "b", http: { url: "/v1/sim/delay/1", method: "HEAD" }, dependsOn: ["a"] },
      ],
    };
    expect(await BatchRequest.safeParseAsync(common)).toEqual({ success: true, data: parseCommonBatch(common) });
    expect(parseCommonBatch(common)).toBeDefined();
    // Not the common shape: zod's answer, errors and all.
    const other = { steps: [{ id: "a b", http: { url: "ftp://x" } }] };
    expect(parseCommonBatch(other)).toBeUndefined();
    const refused = await BatchRequest.safeParseAsync(other);
    expect(refused.success).toBe(false);
    // Through the route: a common batch runs; a bad one is a 400 naming the field.
    expect((await postBatch(common)).status).toBe(200);
    const res = await postBatch(other);
    await expectProblem(res, 400, "validation_failed");
  });
});
