import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FanoutError } from "../../lib/base/errors";
import {
  type Condition,
  ConditionError,
  type Literal,
  MAX_CONDITION_CHARS,
  MAX_CONDITION_DEPTH,
  type Operand,
  parseCondition,
} from "../../lib/batch/condition";
import { evaluateCondition, formatCondition } from "../../lib/batch/condition-eval";
import { parseReference, type Scope } from "../../lib/batch/template";
import { awkwardNumber, fieldName, hostileString, jsonish, nested, pathSegment } from "./arbitraries";
import { fuzzParameters } from "./fuzz";

/**
 * The `when` language is total, like the reference engine: whatever a client writes, parsing gives a
 * condition or a ConditionError (a 400 naming the character), in time linear in the text; whatever
 * the steps answered, evaluating gives true or false and never throws; and a condition written back
 * as text parses to itself.
 */

const ROOTS = ["user", "a", "b-1", "params", "query", "headers", "item", "and", "not", "in", "exists", "true", "null", "200", "-1", "1e5"];

/** A path as a `when` writes it: a root, then a field, then any segments (no [*]); text that reads as a number is a number. */
const pathText = fc
  .tuple(fc.constantFrom(...ROOTS), fieldName, fc.array(pathSegment, { maxLength: 4 }))
  .map(([root, field, rest]) => `${root}.${field}${rest.filter((segment) => segment !== "[*]").join("")}`)
  .filter((text) => !/^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(text));

const literal: fc.Arbitrary<Literal> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 12 }),
  awkwardNumber.map((number) => (number === 0 ? 0 : number)),
  fc.boolean(),
  fc.constant(null),
);
const operand: fc.Arbitrary<Operand> = fc.oneof(
  literal.map((value) => ({ literal: value })),
  pathText.map((text) => ({ path: parseReference(text) })),
);

/** Conditions as the parser builds them: `and`/`or` of two or more, never one directly inside the same. */
const condition: fc.Arbitrary<Condition> = fc.letrec<{ node: Condition }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", maxDepth: 5, withCrossShrink: true },
    fc
      .tuple(fc.constantFrom("==", "!=", "<", "<=", ">", ">=" as const), operand, operand)
      .map(([op, left, right]) => ({ op, left, right })),
    fc.tuple(operand, fc.array(literal, { maxLength: 4 })).map(([value, list]) => ({ op: "in" as const, value, list })),
    pathText.map((text) => ({ op: "exists" as const, path: parseReference(text) })),
    operand.map((value) => ({ op: "is" as const, value })),
    tie("node").map((of) => ({ op: "not" as const, of })),
    fc
      .tuple(fc.constantFrom("and" as const, "or" as const), fc.array(tie("node"), { minLength: 2, maxLength: 3 }))
      .map(([op, of]) => ({ op, of })),
  ),
})).node;

/** Text close to the grammar: its tokens in any order, near misses and junk among them. */
const conditionLike = fc.oneof(
  { weight: 3, arbitrary: condition.map(formatCondition) },
  {
    weight: 3,
    arbitrary: fc
      .array(
        fc.oneof(
          pathText,
          literal.map((value) => JSON.stringify(value) ?? "null"),
          fc.constantFrom("and", "or", "not", "in", "exists", "(", ")", "[", "]", ",", "==", "!=", "<", "<=", ">", ">=", "=", "!", "&&"),
          fc.constantFrom('"', '"\\', "\\u12", "-", ".", "[*]", "1e999", "{{a.body}}", "a..b", "a[", "[9999999999999999999999]"),
          hostileString,
        ),
        { maxLength: 12 },
      )
      .map((tokens) => tokens.join(" ")),
  },
  { weight: 1, arbitrary: hostileString },
);

const stepValue = fc.record({
  status: fc.option(fc.integer({ min: 100, max: 599 }), { nil: undefined }),
  headers: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
  body: fc.oneof(jsonish, fc.constant(undefined)),
});

/** What the batch had when a step was decided: some steps settled (maybe without a value), some request values. */
const scope: fc.Arbitrary<Scope> = fc
  .record({
    steps: fc.dictionary(fc.constantFrom(...ROOTS), fc.option(stepValue, { nil: undefined })),
    inputs: fc.option(fc.dictionary(fc.constantFrom("params", "query", "headers"), fc.dictionary(fieldName, jsonish, { maxKeys: 3 })), {
      nil: undefined,
    }),
  })
  .map(({ steps, inputs }) => ({
    step: (id: string) => (Object.hasOwn(steps, id) ? steps[id] : undefined),
    ...(inputs ? { inputs } : {}),
    [fc.toStringMethod]: () => `scope(${fc.stringify({ steps, inputs })})`,
  }));

/** Parses `text`; anything thrown must be the named error, a 400 that says where. */
function parsedOrRefused(text: string): Condition | undefined {
  try {
    return parseCondition(text);
  } catch (error) {
    if (!(error instanceof ConditionError)) {
      throw new Error(`threw ${(error as Error)?.constructor?.name}: ${String((error as Error)?.message).slice(0, 300)}`);
    }
    expect(error).toBeInstanceOf(FanoutError);
    expect(error.code).toBe("validation_failed");
    expect(error.position).toBeGreaterThanOrEqual(1);
    expect(error.position).toBeLessThanOrEqual(Math.min(text.length, MAX_CONDITION_CHARS) + 1);
    expect(error.message).toMatch(/^at character \d+: ./);
    return undefined;
  }
}

/** The wall clock after an I/O round trip (workerd's clock only moves across I/O). */
async function clock(): Promise<number> {
  await (await fetch(`http://127.0.0.1:${env.UPSTREAM_PORT}/__hits?path=/clock`)).arrayBuffer();
  return Date.now();
}

describe("the when language (fuzz)", () => {
  it("parseCondition of any text gives a condition or a ConditionError naming a character in it", () => {
    fc.assert(
      fc.property(conditionLike, (text) => {
        parsedOrRefused(text);
      }),
      fuzzParameters(),
    );
  });

  it("a condition written back as text parses to itself", () => {
    fc.assert(
      fc.property(condition, (tree) => {
        const text = formatCondition(tree);
        fc.pre(text.length <= MAX_CONDITION_CHARS);
        expect(parseCondition(text)).toEqual(tree);
      }),
      fuzzParameters(),
    );
  });

  it("evaluating any condition against any scope gives a boolean and never throws", () => {
    fc.assert(
      fc.property(conditionLike, scope, (text, values) => {
        const tree = parsedOrRefused(text);
        if (tree) expect(typeof evaluateCondition(tree, values)).toBe("boolean");
      }),
      fuzzParameters(),
    );
  });

  it("== is the negation of !=, in is == against some element, and different types are never equal", () => {
    fc.assert(
      fc.property(operand, operand, fc.array(literal, { maxLength: 4 }), scope, (left, right, list, values) => {
        const holds = (tree: Condition) => evaluateCondition(tree, values);
        expect(holds({ op: "==", left, right })).toBe(!holds({ op: "!=", left, right }));
        expect(holds({ op: "in", value: left, list })).toBe(list.some((item) => holds({ op: "==", left, right: { literal: item } })));
        if ("literal" in left && "literal" in right && typeof left.literal !== typeof right.literal) {
          for (const op of ["==", "<", "<=", ">", ">="] as const) expect(holds({ op, left, right })).toBe(false);
        }
      }),
      fuzzParameters(),
    );
  });

  it("reads a path into a value thousands of levels deep without throwing", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1_000, max: 20_000 }), fc.array(pathSegment, { maxLength: 6 }), (depth, rest) => {
        const body = nested(1, depth, "mixed");
        const tree = parseCondition(`user.body${rest.filter((segment) => segment !== "[*]").join("")} == 1 or exists user.body[0].a[0]`);
        expect(typeof evaluateCondition(tree, { step: () => ({ status: 200, headers: {}, body }) })).toBe("boolean");
      }),
      fuzzParameters(0.05),
    );
  });

  it("parses in linear time: the longest conditions, and far longer text, are answered at once", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("(", "not ", '"\\', "a.b", "x.body == 1 and ", "[", "a.status in [1, ", "-1", "a.b[0]", " ", "1e1"),
        fc.integer({ min: 1, max: 100 }),
        async (unit, times) => {
          const before = await clock();
          for (const length of [MAX_CONDITION_CHARS, MAX_CONDITION_CHARS * times]) {
            // 50 parses of the longest text (or one refusal of a far longer one): linear work is
            // a few milliseconds, so a second is a bound only a super-linear parser crosses.
            for (let i = 0; i < (length > MAX_CONDITION_CHARS ? 1 : 50); i++) parsedOrRefused(unit.repeat(length).slice(0, length));
          }
          const elapsedMs = (await clock()) - before;
          expect(elapsedMs, `parsing ${unit} x ${MAX_CONDITION_CHARS} took ${elapsedMs} ms`).toBeLessThan(1_000);
        },
      ),
      fuzzParameters(0.02),
    );
  });

  it(`nests no deeper than MAX_CONDITION_DEPTH (${MAX_CONDITION_DEPTH}), however the text nests`, () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom("(", "not ", "not (", "(not "), { minLength: 1, maxLength: 300 }), (opens) => {
        const text = `${opens.join("")}a.status == 1${")".repeat(opens.join("").split("(").length - 1)}`;
        const levels = opens.join("").split(/\(|not /).length - 1;
        const parsed = parsedOrRefused(text);
        if (levels > MAX_CONDITION_DEPTH || text.length > MAX_CONDITION_CHARS) expect(parsed).toBeUndefined();
        else expect(parsed).toBeDefined();
      }),
      fuzzParameters(),
    );
  });
});
