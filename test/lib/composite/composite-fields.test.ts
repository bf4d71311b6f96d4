import { describe, expect, it } from "vitest";
import { FanoutError, type StepErrorCode } from "../../../lib/base/errors";
import type { StepResult } from "../../../lib/batch/scheduler";
import { loadComposites } from "../../../lib/composite/catalog";
import type { CompositeDefinition, CompositeStep } from "../../../lib/composite/definition";
import { concatSourcesOf, MAX_CONCAT_SOURCES } from "../../../lib/composite/fields";
import { shapeDocument } from "../../../lib/composite/shape";
import { outcomeOf } from "./outcome";

/**
 * Array merges in a composite's output (`{ "concat": [...] }`): sources appended in order, what a
 * failed, skipped or non-array source does to the answer, and the checks the file alone allows.
 */

const ok = (body: unknown): StepResult => ({ ok: true, status: 200, headers: {}, body, startMs: 0, durationMs: 1 });
const failed = (code: StepErrorCode, reason?: "condition_false"): StepResult => ({
  ok: false,
  error: { code, message: `${code} happened`, ...(reason ? { reason } : {}) },
  startMs: 0,
  durationMs: 1,
});

const step = (id: string, required: boolean, extra: Partial<CompositeStep> = {}): CompositeStep => ({
  id,
  required,
  wait: { ms: 0 },
  ...extra,
});

function shape(steps: CompositeStep[], results: Record<string, StepResult>, fields: Record<string, unknown>) {
  const definition: CompositeDefinition = {
    name: "t",
    path: "t",
    auth: "apiKey",
    demo: false,
    params: {},
    headers: [],
    steps,
    mode: "allSettled",
    output: { fields },
  };
  return shapeDocument(definition, outcomeOf(results), { params: { n: 1 }, query: {}, headers: {} });
}

describe("concatSourcesOf", () => {
  it("is an object whose only key is concat, holding a list", () => {
    expect(concatSourcesOf({ concat: ["{{a.body}}"] })).toEqual(["{{a.body}}"]);
    expect(concatSourcesOf({ concat: ["{{a.body}}"], other: 1 })).toBeUndefined();
    expect(concatSourcesOf({ concat: "{{a.body}}" })).toBeUndefined();
    expect(concatSourcesOf("{{a.body}}")).toBeUndefined();
    expect(concatSourcesOf([{ concat: [] }])).toBeUndefined();
  });
});

describe("concat in shapeDocument", () => {
  const steps = [step("a", true), step("b", false), step("c", false), step("d", false)];

  it("appends each source's elements in order (one level: an element that is an array stays one element)", () => {
    const answer = shape(
      steps,
      { a: ok({ items: [1, 2] }), b: ok([[3], 4]), c: ok([]), d: ok([5]) },
      {
        all: { concat: ["{{a.body.items}}", "{{b.body}}", "{{c.body}}", "{{d.body}}", [6, "{{params.n}}"]] },
      },
    );
    expect(answer.document).toEqual({ all: [1, 2, [3], 4, 5, 6, 1] });
    expect(answer.incomplete).toEqual([]);
  });

  it("leaves out a failed optional source (named) and a skipped one (not named); the field is still an array", () => {
    const answer = shape(
      steps,
      { a: ok([1]), b: failed("timeout"), c: failed("skipped", "condition_false"), d: ok({ x: 1 }) },
      {
        all: { concat: ["{{b.body}}", "{{c.body}}"] },
        some: { concat: ["{{a.body}}", "{{b.body}}", "{{c.body}}"] },
      },
    );
    expect(answer.document).toEqual({ all: [], some: [1] });
    expect(answer.incomplete).toEqual(["b"]);
  });

  it("an optional source that is not an array is left out and names its step", () => {
    const answer = shape(
      steps,
      { a: ok([1]), b: ok({ not: "a list" }), c: ok([]), d: ok([]) },
      {
        all: { concat: ["{{a.body}}", "{{b.body}}"] },
      },
    );
    expect(answer.document).toEqual({ all: [1] });
    expect(answer.incomplete).toEqual(["b"]);
  });

  it.each([
    ["is not an array", { a: ok({ items: "no" }) }, "{{a.body.items}}", /output field "all": concat\[0\] is a string, not an array/],
    ["lacks the path", { a: ok({}) }, "{{a.body.items}}", /output field "all": \{\{a\.body\.items\}\}: no field "items"/],
  ])("a required source that %s is reference_missing, 502, naming the field", (_, results, source, detail) => {
    let error: unknown;
    try {
      shape(steps, { b: ok([]), c: ok([]), d: ok([]), ...results }, { all: { concat: [source] } });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(FanoutError);
    expect(error).toMatchObject({ code: "reference_missing", status: 502, detail: expect.stringMatching(detail) });
  });

  it("an object with other keys besides concat is a template like any other", () => {
    const answer = shape(steps, { a: ok([1]), b: ok([]), c: ok([]), d: ok([]) }, { x: { concat: "{{a.body}}", more: true } });
    expect(answer.document).toEqual({ x: { concat: [1], more: true } });
  });
});

describe("concat in the composites file", () => {
  const composite = (fields: Record<string, unknown>, steps?: unknown[]) => ({
    path: "c",
    auth: "apiKey",
    params: { q: { in: "query", type: "string" } },
    steps: steps ?? [
      { id: "a", http: { url: "https://api.example.com/a" } },
      { id: "b", required: false, http: { url: "https://api.example.com/b" }, fallback: { data: { items: "none" } } },
    ],
    output: { fields },
  });
  const problemsOf = (declaration: unknown) => loadComposites({ composites: { c: declaration } }).broken[0]?.problems ?? [];

  it.each([
    ["a concat that is not a list", { all: { concat: "{{a.body}}" } }, "output.fields.all.concat", /a list of 1 to 20 sources/],
    ["an empty concat", { all: { concat: [] } }, "output.fields.all.concat", /MAX_CONCAT_SOURCES/],
    [
      "too many sources",
      { all: { concat: Array.from({ length: MAX_CONCAT_SOURCES + 1 }, () => "{{a.body}}") } },
      "output.fields.all.concat",
      /MAX_CONCAT_SOURCES/,
    ],
    [
      "a literal source that is no array",
      { all: { concat: ["{{a.body}}", { id: 1 }] } },
      "output.fields.all.concat[1]",
      /renders to an object, not an array$/,
    ],
    [
      "a source that the fallback data makes no array",
      { all: { concat: ["{{b.body.items}}"] } },
      "output.fields.all.concat[0]",
      /renders to a string, not an array when b falls back/,
    ],
    [
      "a source reading what the fallback data lacks",
      { all: { concat: ["{{b.body.list}}"] } },
      "output.fields.all.concat[0]",
      /no field "list".*when b falls back/,
    ],
    ["a source reading an unknown step", { all: { concat: ["{{nope.body}}"] } }, "output.fields.all.concat[0]", /unknown step "nope"/],
    ["a source reading an undeclared param", { all: { concat: ["{{query.p}}"] } }, "output.fields.all.concat[0]", /no param "p"/],
  ])("%s is a named error", (_, fields, name, reason) => {
    const problems = problemsOf(composite(fields));
    expect(problems, JSON.stringify(problems)).toContainEqual({ name, reason: expect.stringMatching(reason) });
  });

  it("sources whose shape only a request can tell load (a step without fallback, a param)", () => {
    expect(problemsOf(composite({ all: { concat: ["{{a.body}}", "{{a.body.items}}", "{{query.q}}", ["{{query.q}}"]] } }))).toEqual([]);
  });
});
