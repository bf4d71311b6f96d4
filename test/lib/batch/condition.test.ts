import { describe, expect, it } from "vitest";
import { FanoutError } from "../../../lib/base/errors";
import {
  ConditionError,
  conditionPaths,
  conditionPathsOf,
  MAX_CONDITION_CHARS,
  MAX_CONDITION_DEPTH,
  parseCondition,
} from "../../../lib/batch/condition";
import { evaluateCondition, formatCondition } from "../../../lib/batch/condition-eval";
import type { Scope } from "../../../lib/batch/template";

const steps: Record<string, unknown> = {
  user: { status: 200, headers: { "x-tier": "gold" }, body: { id: 7, plan: "pro", admin: true, score: 2.5, tags: ["a"], none: null } },
  failed: { status: 503, headers: {}, body: undefined },
};
const scope: Scope = {
  step: (id) => steps[id],
  inputs: { params: { id: 7, beta: true }, query: { include: "reviews", page: 2 }, headers: { "accept-language": "en" } },
};
const holds = (text: string) => evaluateCondition(parseCondition(text), scope);

/** The error a condition is refused with. */
function refusal(text: string): ConditionError {
  try {
    parseCondition(text);
  } catch (error) {
    expect(error).toBeInstanceOf(ConditionError);
    expect(error).toBeInstanceOf(FanoutError);
    expect((error as FanoutError).code).toBe("validation_failed");
    return error as ConditionError;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused`);
}

describe("parseCondition", () => {
  it("parses comparisons, in, exists, and/or/not and parentheses into a tree", () => {
    expect(parseCondition('query.include == "reviews"')).toEqual({
      op: "==",
      left: { path: { text: "query.include", root: "query", path: ["include"] } },
      right: { literal: "reviews" },
    });
    const tree = parseCondition('not (user.status >= 400 or user.body.plan in ["free", null, -1.5e2]) and exists user.body.id');
    expect(formatCondition(tree)).toBe('not (user.status >= 400 or user.body.plan in ["free", null, -150]) and exists user.body.id');
    expect(parseCondition("true")).toEqual({ op: "is", value: { literal: true } });
  });

  it("binds not tighter than and, and and tighter than or", () => {
    expect(formatCondition(parseCondition("not a.status == 1 or b.status == 2 and c.status == 3"))).toBe(
      "not a.status == 1 or b.status == 2 and c.status == 3",
    );
    const tree = parseCondition("a.status == 1 or b.status == 2 and c.status == 3");
    expect(tree.op).toBe("or");
    expect((tree as { of: Array<{ op: string }> }).of.map((part) => part.op)).toEqual(["==", "and"]);
  });

  it("reads step ids that look like keywords or numbers as paths when they go on", () => {
    expect(conditionPaths(parseCondition("and.status == 200 and 200.body.x != null"), "w").map((path) => path.root)).toEqual([
      "and",
      "200",
    ]);
    expect(parseCondition("x.status in[1, 2]")).toMatchObject({ op: "in", list: [1, 2] });
    expect(parseCondition("x.status in[1]")).toMatchObject({ op: "in", list: [1] });
  });

  it("reads -0 as 0, so a condition written back parses to itself", () => {
    const tree = parseCondition("x.status == -0") as { right: { literal: number } };
    expect(Object.is(tree.right.literal, 0)).toBe(true);
    expect(parseCondition(formatCondition(tree as never))).toEqual(tree);
  });

  it("names the 1-based character where a syntax error stands", () => {
    expect(refusal("user.status = 200").position).toBe(13);
    expect(refusal("user.status = 200").message).toBe('at character 13: unexpected "=" (compare with ==)');
    expect(refusal("user.status == ").message).toBe("at character 16: expected a value, found the end");
    expect(refusal("(user.status == 1").message).toBe('at character 18: expected ")", found the end');
    expect(refusal('query.include == "reviews').message).toMatch(/^at character 18: a string that is never closed/);
    expect(refusal("user.status == 1 == 2").position).toBe(18);
    expect(refusal("user.status && x.body").message).toMatch(/write and/);
    expect(refusal("user == 1").message).toMatch(/^at character 1: "user" is not a value/);
    expect(refusal("x.body in 1").message).toMatch(/in needs a list of literals/);
    expect(refusal("x.body in [a.body]").message).toMatch(/a list holds literals only/);
    expect(refusal("exists 1").message).toMatch(/exists needs a path/);
    expect(refusal("x.body[*].id == 1").message).toMatch(/\[\*\] is not allowed/);
    expect(refusal("x.body == 1e999").message).toMatch(/out of range/);
    expect(refusal('x.body == "\\x"').message).toMatch(/not a valid JSON string/);
    expect(refusal(`${"a".repeat(65)}.body == 1`).message).toMatch(/invalid path/);
    expect(refusal("   ").message).toBe("at character 1: an empty condition");
  });

  it(`refuses a condition longer than MAX_CONDITION_CHARS (${MAX_CONDITION_CHARS}) with the limit's name`, () => {
    const long = `x.status == ${"1".padStart(MAX_CONDITION_CHARS - 12, " ")}`;
    expect(long).toHaveLength(MAX_CONDITION_CHARS);
    expect(parseCondition(long)).toMatchObject({ op: "==" });
    expect(refusal(`${long} `).message).toMatch(/MAX_CONDITION_CHARS/);
  });

  it(`refuses parentheses and not nested deeper than MAX_CONDITION_DEPTH (${MAX_CONDITION_DEPTH})`, () => {
    const nested = (depth: number) => `${"(".repeat(depth)}x.status == 1${")".repeat(depth)}`;
    expect(parseCondition(nested(MAX_CONDITION_DEPTH))).toMatchObject({ op: "==" });
    expect(refusal(nested(MAX_CONDITION_DEPTH + 1)).message).toMatch(/MAX_CONDITION_DEPTH/);
    expect(parseCondition(`${"not ".repeat(MAX_CONDITION_DEPTH)}true`)).toMatchObject({ op: "not" });
    // At the `not` or `(` that goes one level too deep.
    expect(refusal(`${"not ".repeat(MAX_CONDITION_DEPTH + 1)}true`).position).toBe(4 * MAX_CONDITION_DEPTH + 1);
    expect(refusal(nested(MAX_CONDITION_DEPTH + 1)).position).toBe(MAX_CONDITION_DEPTH + 1);
  });

  it("lists the paths a condition reads, and none for one that does not parse", () => {
    expect(conditionPathsOf('user.status == 200 and query.include in ["a"]', "steps[1].when")).toEqual([
      { text: "user.status", root: "user", path: ["status"], at: "steps[1].when" },
      { text: "query.include", root: "query", path: ["include"], at: "steps[1].when" },
    ]);
    expect(conditionPathsOf("user.status ==", "w")).toEqual([]);
    expect(conditionPathsOf(undefined, "w")).toEqual([]);
  });
});

describe("evaluateCondition", () => {
  it("compares values of the same type", () => {
    expect(holds('query.include == "reviews"')).toBe(true);
    expect(holds('query.include != "reviews"')).toBe(false);
    expect(holds("user.status >= 200 and user.status < 300")).toBe(true);
    expect(holds("user.body.score > 2 and user.body.score <= 2.5")).toBe(true);
    expect(holds('user.body.plan > "free" and user.headers.x-tier == "gold"')).toBe(true);
    expect(holds("params.id == user.body.id and params.beta and query.page == 2")).toBe(true);
    expect(holds('headers.accept-language in ["de", "en"]')).toBe(true);
    expect(holds("user.body.none == null and null == null")).toBe(true);
  });

  it("never equates values of different types, and never orders them", () => {
    expect(holds('user.status == "200"')).toBe(false);
    expect(holds('user.status != "200"')).toBe(true);
    expect(holds("user.body.admin == 1")).toBe(false);
    expect(holds("user.body.none == false")).toBe(false);
    expect(holds('user.status < "300"')).toBe(false);
    expect(holds('user.status >= "1"')).toBe(false);
    expect(holds("user.body.none < 1 or user.body.none >= 0")).toBe(false);
    expect(holds('user.status in ["200", true]')).toBe(false);
    expect(holds("user.body.tags == user.body.tags")).toBe(false);
    expect(holds("user.body == user.body")).toBe(false);
  });

  it("treats what does not resolve as absent: exists is false, != true, everything else false", () => {
    expect(holds("exists user.body.id and exists user.body.none")).toBe(true);
    expect(holds("exists user.body.nope or exists user.body.tags[3] or exists user.body.id.x")).toBe(false);
    expect(holds("exists failed.status and not exists failed.body")).toBe(true);
    expect(holds("exists skipped.status or skipped.status == null or skipped.status < 1 or skipped.body in [null]")).toBe(false);
    expect(holds("skipped.status != 200")).toBe(true);
    expect(holds("query.nope")).toBe(false);
    expect(holds("exists user.body.__proto__ or exists user.body.constructor or exists user.body.tags.length")).toBe(false);
  });

  it("holds an operand on its own only when it is true", () => {
    expect(holds("user.body.admin and true")).toBe(true);
    expect(holds("user.body.id")).toBe(false);
    expect(holds('"true"')).toBe(false);
    expect(holds("1 or null or false")).toBe(false);
  });
});
