import { describe, expect, it } from "vitest";
import type { FanoutError } from "../../../lib/base/errors";
import { BulkCalls, type BulkOption, bulkCallSpec, groupItems, itemOutputs } from "../../../lib/batch/bulk";
import { parseCommonBatch } from "../../../lib/batch/common-batch";
import { buildPlan, type PlanLimits } from "../../../lib/batch/plan";
import { BatchRequest } from "../../../lib/batch/schema";
import type { HttpSpec, StepInput } from "../../../lib/batch/steps/types";

const spec = (url: string, extra: Partial<HttpSpec> = {}): HttpSpec => ({ url, method: "GET", maxRedirects: 0, ...extra });
const byQuery: BulkOption = { size: 2, param: "id", matchBy: "id" };

describe("groupItems", () => {
  it("groups distinct keys, size at a time, in order of first appearance; a repeated key rides with its first", () => {
    const grouping = groupItems([3, 1, "3", 2, 1, 4, 5], 2);
    expect(grouping.calls).toEqual([[3, 1], [2, 4], [5]]);
    expect(grouping.keys).toEqual(["3", "1", "3", "2", "1", "4", "5"]);
  });

  it("gives an item that is no key (object, null, NaN, boolean) no call", () => {
    const grouping = groupItems([{ id: 1 }, null, Number.NaN, true, "a"], 25);
    expect(grouping.calls).toEqual([["a"]]);
    expect(grouping.keys).toEqual([undefined, undefined, undefined, undefined, "a"]);
  });
});

describe("bulkCallSpec", () => {
  it.each([
    ["https://api.example/users", "https://api.example/users?id=1&id=a%20b"],
    ["https://api.example/users?fields=name", "https://api.example/users?fields=name&id=1&id=a%20b"],
    ["https://api.example/users?", "https://api.example/users?id=1&id=a%20b"],
    ["https://api.example/users?x=1&", "https://api.example/users?x=1&id=1&id=a%20b"],
    ["https://api.example/users#top", "https://api.example/users?id=1&id=a%20b#top"],
    ["/v1/sim/delay/1", "/v1/sim/delay/1?id=1&id=a%20b"],
  ])("repeats the param on %s", (url, expected) => {
    expect(bulkCallSpec(spec(url, { pick: ["name"] }), [1, "a b"], byQuery)).toEqual(spec(expected));
  });

  it("encodes the param's name too", () => {
    expect(bulkCallSpec(spec("https://x.example/"), [1], { ...byQuery, param: "ids[]" }).url).toBe("https://x.example/?ids%5B%5D=1");
  });

  it("places the keys at bodyPath in a copy of the body, making the objects on the way", () => {
    const body = { filter: { active: true } };
    const bulk: BulkOption = { size: 5, bodyPath: "filter.ids", matchBy: "id" };
    const call = bulkCallSpec(spec("https://x.example/", { method: "POST", body }), [1, "b"], bulk);
    expect(call.body).toEqual({ filter: { active: true, ids: [1, "b"] } });
    expect(body).toEqual({ filter: { active: true } });
    expect(bulkCallSpec(spec("https://x.example/", { method: "POST" }), [1], { ...bulk, bodyPath: "a.b.c" }).body).toEqual({
      a: { b: { c: [1] } },
    });
  });

  it("refuses a body with no object where bodyPath goes (validation_failed), and never writes a prototype", () => {
    const bulk: BulkOption = { size: 5, bodyPath: "filter.ids", matchBy: "id" };
    const refused = (body: unknown) => {
      try {
        bulkCallSpec(spec("https://x.example/", { method: "POST", body }), [1], bulk);
      } catch (error) {
        return error as FanoutError;
      }
      throw new Error("expected a refusal");
    };
    expect(refused({ filter: 5 })).toMatchObject({ code: "validation_failed", detail: expect.stringContaining('no object at "filter"') });
    expect(refused("text").detail).toContain('no object at "the top"');
    const call = bulkCallSpec(spec("https://x.example/", { method: "POST" }), [1], { ...bulk, bodyPath: "__proto__.polluted" });
    expect(JSON.stringify(call.body)).toBe('{"__proto__":{"polluted":[1]}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("itemOutputs", () => {
  const grouping = groupItems([1, 2, 3, 1], 2);
  const ok = (body: unknown) => ({ ok: true, status: 200, body, attempts: 1, coalesced: false });

  it("gives each item the first element whose matchBy is its key, text and number alike; an unmatched one not_found", () => {
    const outputs = itemOutputs(
      grouping,
      [ok([{ id: "1", n: "a" }, { id: 1, n: "second" }, { x: 2 }, null]), ok({ data: [{ id: 3, n: "c" }] })],
      { ...byQuery, resultsPath: undefined },
      undefined,
    );
    expect(outputs.map((output) => output.body)).toEqual([{ id: "1", n: "a" }, null, null, { id: "1", n: "a" }]);
    expect(outputs[1]).toMatchObject({ ok: false, status: 200, error: { code: "not_found" } });
    // The second call's answer is an object: no array where the elements were expected.
    expect(outputs[2]).toMatchObject({ ok: false, error: { code: "validation_failed", message: expect.stringContaining("not an array") } });
  });

  it("reads the elements at resultsPath and keeps only the picked fields of each", () => {
    const outputs = itemOutputs(
      grouping,
      [
        ok({
          data: [
            { id: 2, n: "b" },
            { id: 1, n: "a" },
          ],
        }),
        ok({ data: [{ id: 3, n: "c" }] }),
      ],
      { ...byQuery, matchBy: "id", resultsPath: "data" },
      ["n"],
    );
    expect(outputs.map((output) => output.body)).toEqual([{ n: "a" }, { n: "b" }, { n: "c" }, { n: "a" }]);
  });

  it("gives an item that is no key a validation_failed of its own, and the others their elements", () => {
    const outputs = itemOutputs(groupItems([{ id: 1 }, 1], 25), [ok([{ id: 1 }])], byQuery, undefined);
    expect(outputs[0]).toMatchObject({ ok: false, error: { code: "validation_failed", message: expect.stringContaining("not object") } });
    expect(outputs[1]).toMatchObject({ ok: true, body: { id: 1 } });
  });

  it("gives each item of a failed call that call's error", () => {
    const failed = { ok: false, status: 503, error: { code: "http_status" as const, message: "the upstream answered 503" } };
    const outputs = itemOutputs(grouping, [failed, ok([{ id: 3 }])], byQuery, undefined);
    expect(outputs.map((output) => output.error?.code)).toEqual(["http_status", "http_status", undefined, "http_status"]);
  });
});

describe("BulkCalls", () => {
  it("accepts the documented example and refuses what does not parse, naming the field", () => {
    expect(BulkCalls.safeParse((BulkCalls.meta()!.examples as unknown[])[0]).success).toBe(true);
    const refused = BulkCalls.safeParse({ size: 25, param: "id", matchBy: "a..b", resultsPath: "x[*]" });
    expect(refused.error?.issues.map((issue) => issue.path.join("."))).toEqual(["matchBy", "resultsPath"]);
  });
});

describe("buildPlan with bulk calls", () => {
  const limits: PlanLimits = { maxSteps: 100, subrequestBudget: 1000, isInProcess: () => false };
  const bulkStep = (items: number, batch?: BulkOption): StepInput => ({
    id: "users",
    forEach: Array.from({ length: items }, (_, i) => i),
    http: spec("https://x.example/users"),
    ...(batch ? { batch } : {}),
  });

  it("counts a literal forEach's calls against the budget: its items, or ceil(items / size) in bulk", () => {
    expect(buildPlan([bulkStep(100)], limits).subrequests).toBe(100);
    expect(buildPlan([bulkStep(100, { ...byQuery, size: 25 })], limits).subrequests).toBe(4);
    expect(buildPlan([bulkStep(101, { ...byQuery, size: 25 })], limits).subrequests).toBe(5);
    expect(() => buildPlan([bulkStep(100)], { ...limits, subrequestBudget: 99 })).toThrow(/SUBREQUEST_BUDGET/);
  });

  it("expands a literal bulk forEach to its calls against MAX_STEPS", () => {
    expect(buildPlan([bulkStep(1000, { ...byQuery, size: 10 })], limits).steps).toHaveLength(1);
    expect(() => buildPlan([bulkStep(1000, { ...byQuery, size: 9 })], limits)).toThrow(/MAX_STEPS/);
  });

  it("takes a body that is one reference (an object when rendered) for bodyPath", () => {
    const step: StepInput = {
      id: "users",
      forEach: [1],
      http: spec("https://x.example/", { method: "POST", body: "{{query.filter}}" }),
      batch: { size: 5, bodyPath: "ids", matchBy: "id" },
    };
    expect(() => buildPlan([step], { ...limits, inputRoots: new Set(["query"]) })).not.toThrow();
  });
});

describe("the common batch's hand-written check", () => {
  it("leaves a step with a bulk option to zod, which keeps the option", () => {
    const body = {
      steps: [{ id: "users", forEach: [1, 2], http: { url: "https://x.example/users" }, batch: { size: 25, param: "id", matchBy: "id" } }],
    };
    expect(parseCommonBatch(body)).toBeUndefined();
    expect(BatchRequest.parse(body).steps[0]!.batch).toEqual({ size: 25, param: "id", matchBy: "id" });
  });
});
