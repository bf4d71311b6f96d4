import { describe, expect, it } from "vitest";
import { FanoutError, type StepErrorCode } from "../../../lib/base/errors";
import type { StepResult } from "../../../lib/batch/scheduler";
import type { CompositeDefinition, CompositeInputs, OutputSpec } from "../../../lib/composite/definition";
import { requiredStepFailed, shapeBody, shapeDocument } from "../../../lib/composite/shape";
import { outcomeOf } from "./outcome";

/**
 * Shaping a finished batch into a composite's document, on hand-built outcomes: the rules (target,
 * allow, deny, rename, group, merge, per element on collections), template fields, and what a failed
 * or empty required / optional step does to the answer.
 */

const ok = (body: unknown, status = 200): StepResult => ({ ok: true, status, headers: {}, body, startMs: 0, durationMs: 1 });
const failed = (code: StepErrorCode, message = `${code} happened`): StepResult => ({
  ok: false,
  error: { code, message },
  startMs: 0,
  durationMs: 1,
});

/** Steps as `[id, required]`; their kind does not matter to shaping. */
function compositeOf(steps: Array<[string, boolean]>, output?: OutputSpec): CompositeDefinition {
  return {
    name: "test",
    path: "test",
    auth: "none",
    demo: false,
    params: {},
    headers: [],
    steps: steps.map(([id, required]) => ({ id, required, wait: { ms: 0 } })),
    mode: "allSettled",
    ...(output ? { output } : {}),
  };
}

const noInputs: CompositeInputs = { params: {}, query: {}, headers: {} };

function shape(steps: Array<[string, boolean]>, results: Record<string, StepResult>, output?: OutputSpec, inputs = noInputs) {
  return shapeDocument(compositeOf(steps, output), outcomeOf(results), inputs);
}

/** The FanoutError a call throws (fails the test when it does not throw one). */
function thrown(run: () => unknown): FanoutError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(FanoutError);
    return error as FanoutError;
  }
  throw new Error("expected a FanoutError, nothing was thrown");
}

const user = { id: 7, name: "Ada", email: "ada@example.com", address: { city: "London", zip: "N1" } };
const orders = [
  { id: 1, total_cents: 1999, secret: "x" },
  { id: 2, total_cents: 4500, secret: "y" },
];

describe("shapeDocument: the default output", () => {
  it("groups every step's body under its id", () => {
    const answer = shape(
      [
        ["user", true],
        ["orders", true],
        ["flags", false],
      ],
      {
        user: ok(user),
        orders: ok(orders),
        flags: ok({ dark: true }),
      },
    );
    expect(answer).toEqual({ document: { user, orders, flags: { dark: true } }, incomplete: [], fallback: [], headers: {} });
  });

  it("leaves a failed optional step out and names it", () => {
    const answer = shape(
      [
        ["user", true],
        ["flags", false],
      ],
      { user: ok(user), flags: failed("http_status") },
    );
    expect(answer).toEqual({ document: { user }, incomplete: ["flags"], fallback: [], headers: {} });
  });
});

describe("shapeBody: one step's rule", () => {
  it("target takes a sub-object ([n], dot paths)", () => {
    expect(shapeBody([user], { target: "[0]" })).toEqual(user);
    expect(shapeBody({ data: { user } }, { target: "data.user.address" })).toEqual({ city: "London", zip: "N1" });
  });

  it("allow keeps only the listed paths, nested ones as nested objects, and skips absent ones", () => {
    expect(shapeBody(user, { allow: ["id", "address.city", "nope", "address.nope.deeper"] })).toEqual({
      id: 7,
      address: { city: "London" },
    });
    expect(shapeBody(user, { allow: ["address.zip", "address.city"] })).toEqual({ address: { zip: "N1", city: "London" } });
  });

  it("deny drops the listed paths (nested too) and leaves the step's body untouched", () => {
    const body = structuredClone(user);
    expect(shapeBody(body, { deny: ["email", "address.zip", "nope", "nope.deeper"] })).toEqual({
      id: 7,
      name: "Ada",
      address: { city: "London" },
    });
    expect(body).toEqual(user);
  });

  it("rename renames top-level fields", () => {
    expect(shapeBody({ id: 1, total_cents: 5 }, { rename: { total_cents: "totalCents", absent: "x" } })).toEqual({ id: 1, totalCents: 5 });
  });

  it("applies allow, then deny, then rename", () => {
    expect(shapeBody(user, { allow: ["id", "name", "email"], deny: ["email"], rename: { name: "displayName" } })).toEqual({
      id: 7,
      displayName: "Ada",
    });
  });

  it("on a collection, applies allow, deny and rename to each element", () => {
    expect(shapeBody(orders, { allow: ["id", "total_cents"], rename: { total_cents: "totalCents" } })).toEqual([
      { id: 1, totalCents: 1999 },
      { id: 2, totalCents: 4500 },
    ]);
    expect(shapeBody({ items: orders }, { target: "items", deny: ["secret"] })).toEqual([
      { id: 1, total_cents: 1999 },
      { id: 2, total_cents: 4500 },
    ]);
  });

  it("leaves scalars (and scalar elements) as they are", () => {
    expect(shapeBody("text", { allow: ["id"] })).toBe("text");
    expect(shapeBody([1, { id: 2, x: 3 }], { allow: ["id"] })).toEqual([1, { id: 2 }]);
  });

  it("never reads or writes Object.prototype through a field path", () => {
    // A JSON body may hold an own "__proto__" field; shaping treats it as data, like any other field.
    const body = JSON.parse('{"id":1,"__proto__":{"polluted":"yes"}}') as Record<string, unknown>;
    const prototype = Object.prototype as unknown as Record<string, unknown>;
    const saved = { toString: prototype.toString, hasOwnProperty: prototype.hasOwnProperty };
    try {
      shapeBody(body, { allow: ["__proto__.polluted"] });
      shapeBody(body, { allow: ["constructor.prototype.polluted"] });
      shapeBody(body, { deny: ["__proto__.polluted"] });
      shapeBody({ id: 1 }, { deny: ["__proto__.toString", "constructor.prototype.hasOwnProperty"] });
      expect(Object.hasOwn(prototype, "polluted"), "allow wrote into Object.prototype").toBe(false);
      expect(prototype.toString, "deny deleted from Object.prototype").toBe(saved.toString);
      expect(prototype.hasOwnProperty, "deny deleted from Object.prototype").toBe(saved.hasOwnProperty);
    } finally {
      // A failure here must not break the rest of the run (the test runner itself needs these).
      delete prototype.polluted;
      Object.assign(prototype, saved);
    }
    expect(JSON.stringify(shapeBody(body, { allow: ["__proto__.polluted"] }))).toBe('{"__proto__":{"polluted":"yes"}}');
    expect(JSON.stringify(shapeBody(body, { deny: ["__proto__.polluted"] }))).toBe('{"id":1,"__proto__":{}}');
    expect(Object.getOwnPropertyDescriptor(body, "__proto__")?.value).toEqual({ polluted: "yes" });
  });
});

describe("shapeDocument: rules per step", () => {
  const steps: Array<[string, boolean]> = [
    ["user", true],
    ["orders", true],
    ["flags", false],
  ];
  const results = { user: ok([user]), orders: ok(orders), flags: ok({ newCheckout: true, darkMode: false, internal: 1 }) };

  it("shapes only the steps the output lists, each by its rule; group renames the key", () => {
    const answer = shape(steps, results, {
      steps: {
        user: { target: "[0]", allow: ["id", "name"], group: "profile" },
        flags: { deny: ["internal"] },
      },
    });
    expect(answer).toEqual({
      document: { profile: { id: 7, name: "Ada" }, flags: { newCheckout: true, darkMode: false } },
      incomplete: [],
      fallback: [],
      headers: {},
    });
  });

  it("merge puts the body's fields at the root", () => {
    const answer = shape(steps, results, {
      steps: { user: { target: "[0]", allow: ["id", "name"], merge: true }, flags: { merge: true } },
    });
    expect(answer.document).toEqual({ id: 7, name: "Ada", newCheckout: true, darkMode: false, internal: 1 });
  });

  it("a target missing from an optional step's body leaves it out and names it", () => {
    const answer = shape(steps, results, { steps: { user: { target: "[0]" }, flags: { target: "data.flags" } } });
    expect(answer.document).toEqual({ user });
    expect(answer.incomplete).toEqual(["flags"]);
  });

  it("a target missing from a required step's body is reference_missing, 502, naming the step and the target", () => {
    const error = thrown(() => shape(steps, results, { steps: { user: { target: "[3]" } } }));
    expect(error).toMatchObject({ code: "reference_missing", status: 502 });
    expect(error.detail).toMatch(/required step "user": output target "\[3\]"/);
  });

  it("merging a body that is not an object: an optional step is left out, a required one fails with 502", () => {
    const optional = shape(steps, { ...results, flags: ok([1, 2]) }, { steps: { user: { target: "[0]" }, flags: { merge: true } } });
    expect(optional).toEqual({ document: { user }, incomplete: ["flags"], fallback: [], headers: {} });
    const required = thrown(() => shape(steps, results, { steps: { orders: { merge: true } } }));
    expect(required).toMatchObject({ code: "reference_missing", status: 502 });
    expect(required.detail).toMatch(/required step "orders": output merge needs an object body/);
  });

  it("lists incomplete steps in declaration order, whatever order the output names them in", () => {
    const answer = shape(
      [
        ["a", false],
        ["b", true],
        ["c", false],
        ["d", false],
      ],
      { a: ok({ x: 1 }), b: ok({}), c: failed("timeout"), d: failed("network") },
      { steps: { d: {}, c: {}, b: {}, a: { target: "missing" } } },
    );
    expect(answer).toEqual({ document: { b: {} }, incomplete: ["a", "c", "d"], fallback: [], headers: {} });
  });
});

describe("shapeDocument: template fields", () => {
  const steps: Array<[string, boolean]> = [
    ["user", true],
    ["orders", true],
    ["recs", false],
  ];
  const results = { user: ok(user), orders: ok(orders), recs: ok({ items: ["p1"] }) };
  const inputs: CompositeInputs = { params: { x: 42, lang: "en" }, query: { lang: "en" }, headers: { "accept-language": "fr" } };

  it("renders step references (flatmap over collections), params, query and headers", () => {
    const answer = shape(
      steps,
      results,
      {
        steps: {},
        fields: {
          orderIds: "{{orders.body[*].id}}",
          x: "{{params.x}}",
          lang: "{{query.lang}}",
          acceptLanguage: "{{headers.accept-language}}",
          greeting: "Hello {{user.body.name}} ({{params.x}})",
          nested: { city: "{{user.body.address.city}}", status: "{{user.status}}", list: ["{{recs.body.items[0]}}"] },
        },
      },
      inputs,
    );
    expect(answer).toEqual({
      document: {
        orderIds: [1, 2],
        x: 42,
        lang: "en",
        acceptLanguage: "fr",
        greeting: "Hello Ada (42)",
        nested: { city: "London", status: 200, list: ["p1"] },
      },
      incomplete: [],
      fallback: [],
      headers: {},
    });
  });

  it("sits next to the shaped steps (fields are rendered last and win a key clash)", () => {
    const answer = shape(steps, results, { steps: { user: { allow: ["id"] } }, fields: { user: "{{user.body.name}}", n: 1 } }, inputs);
    expect(answer.document).toEqual({ user: "Ada", n: 1 });
  });

  it("a field reading a failed optional step is left out (the step is already named)", () => {
    const answer = shape(
      steps,
      { ...results, recs: failed("http_status") },
      { fields: { firstRec: "{{recs.body.items[0]}}", id: "{{user.body.id}}" } },
    );
    // With `output`, only what it lists appears: no output.steps, so only the fields.
    expect(answer.document).toEqual({ id: 7 });
    expect(answer.incomplete).toEqual(["recs"]);
  });

  it("a field whose path is missing from an optional step that succeeded is left out and names the step", () => {
    const answer = shape(steps, results, { steps: {}, fields: { firstRec: "{{recs.body.items[5]}}", id: "{{user.body.id}}" } });
    expect(answer).toEqual({ document: { id: 7 }, incomplete: ["recs"], fallback: [], headers: {} });
  });

  it("a field whose path is missing from a required step is reference_missing, 502, naming the field", () => {
    const error = thrown(() => shape(steps, results, { steps: {}, fields: { phone: "{{user.body.phone}}" } }));
    expect(error).toMatchObject({ code: "reference_missing", status: 502 });
    expect(error.detail).toMatch(/output field "phone": .*no field "phone"/);
  });

  it("renders a bound value in one pass: a param holding {{x.body}} is text, never a reference", () => {
    const tricky: CompositeInputs = {
      params: { q: "{{user.body}}", r: "{{user.body.email}}" },
      query: { q: "{{user.body}}" },
      headers: { "x-h": "{{headers.x-h}}" },
    };
    const answer = shape(
      steps,
      results,
      {
        steps: {},
        fields: { q: "{{params.q}}", inText: "q={{params.q}}", r: "{{params.r}}", query: "{{query.q}}", header: "{{headers.x-h}}" },
      },
      tricky,
    );
    expect(answer.document).toEqual({
      q: "{{user.body}}",
      inText: "q={{user.body}}",
      r: "{{user.body.email}}",
      query: "{{user.body}}",
      header: "{{headers.x-h}}",
    });
    expect(JSON.stringify(answer.document)).not.toContain("ada@example.com");
  });
});

describe("shapeDocument: a required step that failed", () => {
  const steps: Array<[string, boolean]> = [
    ["user", true],
    ["orders", true],
    ["recs", false],
  ];

  it("is a 502 naming the step, its code and its message", () => {
    const error = thrown(() => shape(steps, { user: ok(user), orders: failed("http_status", "upstream answered 503"), recs: ok({}) }));
    expect(error).toMatchObject({ code: "http_status", status: 502 });
    expect(error.detail).toBe('required step "orders" failed (http_status): upstream answered 503');
  });

  it.each(["timeout", "deadline_exceeded"] as const)("is a 504 when the step's code is %s", (code) => {
    const error = thrown(() => shape(steps, { user: failed(code), orders: ok(orders), recs: ok({}) }));
    expect(error).toMatchObject({ code, status: 504 });
    expect(error.detail).toMatch(/^required step "user" failed/);
  });

  it("names the root cause before the steps that were skipped or cancelled because of it", () => {
    const error = thrown(() =>
      shape(
        [
          ["a", true],
          ["b", true],
          ["c", true],
        ],
        { a: failed("skipped"), b: failed("cancelled"), c: failed("network") },
      ),
    );
    expect(error).toMatchObject({ code: "network", status: 502 });
    expect(error.detail).toMatch(/^required step "c"/);
  });

  it("names the first declared one when all are consequences (the cause was optional)", () => {
    const error = thrown(() =>
      shape(
        [
          ["opt", false],
          ["a", true],
          ["b", true],
        ],
        { opt: failed("http_status"), a: failed("cancelled"), b: failed("skipped") },
      ),
    );
    expect(error).toMatchObject({ code: "cancelled", status: 502 });
    expect(error.detail).toMatch(/^required step "a"/);
  });

  it("an optional step's failure never fails the answer, whatever its code", () => {
    for (const code of ["timeout", "internal", "skipped"] as const)
      expect(shape(steps, { user: ok(user), orders: ok(orders), recs: failed(code) }).incomplete).toEqual(["recs"]);
  });

  it("a required step with no result at all (not run) is a 502", () => {
    const error = thrown(() => shape(steps, { user: ok(user), recs: ok({}) }));
    expect(error).toMatchObject({ code: "internal", status: 502 });
    expect(error.detail).toMatch(/required step "orders" failed \(internal\): no result/);
  });
});

describe("requiredStepFailed", () => {
  it("maps a step's error to the composite's error", () => {
    expect(requiredStepFailed({ id: "s" }, { error: { code: "timeout", message: "late" } })).toMatchObject({
      code: "timeout",
      status: 504,
    });
    expect(requiredStepFailed({ id: "s" }, { error: { code: "network", message: "down" } })).toMatchObject({
      code: "network",
      status: 502,
    });
  });
});
