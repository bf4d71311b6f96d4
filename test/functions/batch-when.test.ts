import { describe, expect, it } from "vitest";
import { postBatch, runBatchJson, UPSTREAM, upstreamHits } from "./batch-helpers";
import { expectProblem } from "./helpers";

/**
 * POST /v1/batch with conditional steps: decided on earlier results, a false one skipped (never
 * called upstream) with the reason `condition_false`, what needs it skipped the same way; a `when`
 * that does not parse or reads what a batch cannot is a 400 naming the field, before any call.
 */

let unique = 0;
const fresh = (label: string) => `${label}-${Date.now().toString(36)}-${unique++}`;

/** The 400 problem for a batch of a wait `a` and a wait `b` with this `when`. */
async function refusedWhen(when: string) {
  const body = {
    steps: [
      { id: "a", wait: { ms: 1 } },
      { id: "b", when, wait: { ms: 1 } },
    ],
  };
  return expectProblem(await postBatch(body), 400, "validation_failed");
}

describe("POST /v1/batch with when", () => {
  it("runs the branch whose condition holds and skips the other and what needs it, without calling them", async () => {
    const key = fresh("when");
    const { res, json } = await runBatchJson({
      steps: [
        { id: "user", http: { url: `${UPSTREAM}/echo?plan=pro` } },
        { id: "pro", when: 'user.body.query.plan in ["pro", "team"]', http: { url: `${UPSTREAM}/counter/${key}-pro` } },
        { id: "free", when: 'user.body.query.plan == "free"', http: { url: `${UPSTREAM}/counter/${key}-free` } },
        { id: "afterFree", http: { url: `${UPSTREAM}/counter/${key}-after?n={{free.body.value}}` } },
        { id: "fallback", when: "not exists free.body", http: { url: `${UPSTREAM}/counter/${key}-fallback` } },
      ],
    });
    expect(res.status).toBe(200);
    expect(json.results.pro).toMatchObject({ ok: true, body: { value: 0 } });
    expect(json.results.free).toMatchObject({
      ok: false,
      error: { code: "skipped", message: "condition false", reason: "condition_false" },
    });
    expect(json.results.afterFree!.error).toEqual({
      code: "skipped",
      message: 'dependency "free" was skipped (condition false)',
      dependency: "free",
      reason: "condition_false",
    });
    expect(json.results.fallback!.ok).toBe(true);
    expect(json.counts).toEqual({ ok: 3, failed: 0, skipped: 2, cancelled: 0 });
    expect(json.completed).toBe(true);
    const hits = await Promise.all(["pro", "free", "after", "fallback"].map((path) => upstreamHits(`/counter/${key}-${path}`)));
    expect(hits).toEqual([1, 0, 0, 1]);
  });

  it("mode all: a false condition does not stop the batch or turn it into a 502", async () => {
    const { res, json } = await runBatchJson({
      mode: "all",
      steps: [
        { id: "a", wait: { ms: 1 } },
        { id: "b", when: "a.status == 500", wait: { ms: 1 } },
        { id: "c", wait: { ms: 5 } },
      ],
    });
    expect(res.status).toBe(200);
    expect(json.results.c!.ok).toBe(true);
    expect(json.completed).toBe(true);
  });

  it("refuses a when that does not parse with a 400 naming the field and the character, before any call", async () => {
    const key = fresh("when-bad");
    const res = await postBatch({
      steps: [
        { id: "a", http: { url: `${UPSTREAM}/counter/${key}` } },
        { id: "b", wait: { ms: 1 } },
        { id: "c", when: "a.status == 200 and (b.status", wait: { ms: 1 } },
      ],
    });
    const problem = await expectProblem(res, 400, "validation_failed");
    expect(problem.invalidParams).toEqual([{ name: "steps[2].when", reason: 'at character 30: expected ")", found the end' }]);
    expect(await upstreamHits(`/counter/${key}`)).toBe(0);
  });

  it.each([
    ["an unknown step", "ghost.status == 200", '"ghost.status" refers to unknown step "ghost"'],
    [
      "a composite's query",
      'query.include == "x"',
      "\"query.include\": query is a composite's request value; a batch's when reads earlier steps only",
    ],
    ["forEach's item", "item.id == 1", '"item.id": a when is evaluated once per step, before any forEach item; item is not defined there'],
    ["a bare word", "a == 1", 'at character 1: "a" is not a value'],
  ])("refuses %s in a when with a 400 naming the field", async (_, when, reason) => {
    const problem = await refusedWhen(when);
    expect(problem.invalidParams![0]!.name).toBe("steps[1].when");
    expect(problem.invalidParams![0]!.reason.startsWith(reason)).toBe(true);
  });

  it("refuses an empty when, and one over MAX_CONDITION_CHARS, naming the field", async () => {
    for (const when of ["", `a.status == ${"1".repeat(1000)}`]) {
      const problem = await refusedWhen(when);
      expect(problem.invalidParams!.map((param) => param.name)).toEqual(["steps[1].when"]);
    }
  });
});
