import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FanoutError } from "../../lib/base/errors";
import { collectReferences, parseReference, renderString, renderValue, type Scope } from "../../lib/batch/template";
import { hostileString, jsonish, nested, referenceText, templateString } from "./arbitraries";
import { fuzzParameters } from "./fuzz";

/**
 * The reference engine is total: whatever template a client writes and whatever JSON the steps
 * answered, rendering returns a value or throws a FanoutError. A TypeError or RangeError escaping
 * here would reach the client as an `internal` step error.
 */

const STEP_IDS = ["a", "b", "user-1", "item", "index", "__proto__", "constructor"];
const roots = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...STEP_IDS) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,70}$/) },
);

/** A template: JSON whose strings carry references, sometimes very deep. */
const template: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        templateString(roots),
        fc.jsonValue({ maxDepth: 1 }),
        fc.array(tie("value"), { maxLength: 4 }),
        fc.dictionary(fc.oneof(fc.constantFrom("url", "key", "body", "__proto__"), fc.string({ maxLength: 6 })), tie("value"), {
          maxKeys: 4,
        }),
      ),
    })).value,
  },
  {
    weight: 1,
    arbitrary: fc.tuple(templateString(roots), fc.integer({ min: 100, max: 5_000 })).map(([leaf, depth]) => nested(leaf, depth, "mixed")),
  },
);

/** What the steps answered, as the batch's scope presents it; `item`/`index` only inside a forEach. */
const scope: fc.Arbitrary<Scope> = fc
  .record({
    steps: fc.dictionary(
      fc.constantFrom(...STEP_IDS),
      fc.record({
        status: fc.integer({ min: 100, max: 599 }),
        headers: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
        body: jsonish,
      }),
    ),
    forEach: fc.option(fc.record({ item: jsonish, index: fc.nat({ max: 1000 }) })),
  })
  .map(({ steps, forEach }) => ({
    step: (id: string) => (Object.hasOwn(steps, id) ? steps[id] : undefined),
    ...(forEach ? forEach : {}),
    // So a counterexample shows the step values, not the function that returns them.
    [fc.toStringMethod]: () => `scope(${fc.stringify({ steps, ...forEach })})`,
  }));

/**
 * The wall clock, read after an I/O round trip: in workerd the clock stands still while code runs
 * and moves only across I/O, so a bare Date.now() after a long computation would not see it.
 */
async function clock(): Promise<number> {
  await (await fetch(`http://127.0.0.1:${env.UPSTREAM_PORT}/__hits?path=/clock`)).arrayBuffer();
  return Date.now();
}

/** Runs `render`; anything thrown must be our typed error. */
function totally(render: () => unknown): void {
  let thrown: unknown;
  try {
    render();
    return;
  } catch (error) {
    thrown = error;
  }
  if (!(thrown instanceof FanoutError)) {
    const error = thrown as Error;
    throw new Error(
      `threw ${error?.constructor?.name ?? typeof thrown} instead of a FanoutError: ${String(error?.message ?? thrown).slice(0, 300)}`,
    );
  }
  expect(thrown.code).not.toBe("internal");
}

describe("the reference engine (fuzz)", () => {
  it("renderValue of any template against any scope returns a value or throws a FanoutError", () => {
    fc.assert(
      fc.property(template, scope, fc.boolean(), (value, values, encodeUrls) => {
        totally(() => renderValue(value, values, encodeUrls ? (key) => key === "url" : undefined));
      }),
      fuzzParameters(),
    );
  });

  it("renderString of any string, URL-encoded or not, returns a value or throws a FanoutError", () => {
    fc.assert(
      fc.property(fc.oneof(templateString(roots), hostileString), scope, fc.boolean(), (text, values, encode) => {
        totally(() => renderString(text, values, { encode }));
      }),
      fuzzParameters(),
    );
  });

  it("a template without references renders to itself, and a lone reference to the value it names", () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 3 }).filter((value) => !JSON.stringify(value).includes("{{")),
        jsonish,
        (literal, body) => {
          const values: Scope = { step: (id) => (id === "a" ? { status: 200, headers: {}, body } : undefined) };
          expect(renderValue(literal, values)).toEqual(literal);
          // Identity, not deep equality: the body may be thousands of levels deep.
          expect((renderValue({ x: ["{{a.body}}"] }, values) as { x: unknown[] }).x[0]).toBe(body);
        },
      ),
      fuzzParameters(),
    );
  });

  it("scanning a string for references takes linear time (no catastrophic backtracking on an unclosed {{ and whitespace)", async () => {
    // A few KiB of text, as in a URL or header (limits 4096 and 8192): linear work is well under a
    // millisecond, so one second is a bound that only a super-linear scan can cross.
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("{{", "{{a", "{{ a.body", "x{{", "{{{"),
        fc.constantFrom(" ", "\t", "\r\n", " a", "\u00a0"),
        fc.integer({ min: 1_000, max: 2_000 }),
        fc.constantFrom("", "}", "x", "{{"),
        async (open, unit, times, tail) => {
          const text = open + unit.repeat(times) + tail;
          const before = await clock();
          for (const scan of [() => collectReferences(text, "steps[0].http.url"), () => renderString(text, { step: () => undefined })]) {
            try {
              scan();
            } catch (error) {
              if (!(error instanceof FanoutError)) throw error;
            }
          }
          const elapsedMs = (await clock()) - before;
          expect(elapsedMs, `scanning ${text.length} characters took ${elapsedMs} ms`).toBeLessThan(1_000);
        },
      ),
      fuzzParameters(0.02),
    );
  });

  it("parseReference and collectReferences accept or refuse with a message, never a TypeError or RangeError", () => {
    fc.assert(
      fc.property(fc.oneof(referenceText(roots), hostileString), template, (text, value) => {
        for (const parse of [() => parseReference(text), () => collectReferences(value, "steps[0].http")]) {
          try {
            parse();
          } catch (error) {
            // These two run at validation time; the plan turns their message into a 400's invalidParams.
            if (!(error instanceof FanoutError))
              throw new Error(`threw ${(error as Error)?.constructor?.name}: ${String((error as Error)?.message).slice(0, 300)}`);
            expect(error.code).toBe("validation_failed");
            expect(error.message).not.toBe("");
          }
        }
      }),
      fuzzParameters(),
    );
  });
});
