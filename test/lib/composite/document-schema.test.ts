import { describe, expect, it } from "vitest";
import type { StepResult } from "../../../lib/batch/scheduler";
import { loadComposites } from "../../../lib/composite/catalog";
import type { CompositeDefinition } from "../../../lib/composite/definition";
import { type DocumentSchema, documentSchemaOf } from "../../../lib/composite/document-schema";
import { shapeDocument } from "../../../lib/composite/shape";
import { outcomeOf } from "./outcome";

/**
 * A composite's 200 schema, derived from its output declaration: what it says (the fields a client
 * may read), and that it is never wrong: documents shaped from many upstream answers, fallback data
 * included, all validate against it.
 */

/** One composite declared as in the composites file (validated, defaults filled in). */
function composite(declaration: Record<string, unknown>): CompositeDefinition {
  const catalog = loadComposites({ composites: { test: { path: "test", auth: "apiKey", ...declaration } } });
  expect(catalog.broken).toEqual([]);
  return catalog.composites[0]!;
}

const d1 = (id: string, extra: Record<string, unknown> = {}) => ({ id, d1: { query: "q" }, ...extra });
const kv = (id: string, extra: Record<string, unknown> = {}) => ({ id, kv: { key: "flags:web", type: "json" }, ...extra });

const HOME = {
  steps: [d1("user"), d1("orders"), kv("flags", { required: false }), kv("recommendations", { required: false })],
  output: {
    steps: {
      user: { target: "[0]", allow: ["id", "name"] },
      orders: { allow: ["id", "total_cents", "created_at"], rename: { total_cents: "totalCents", created_at: "createdAt" } },
      flags: { allow: ["newCheckout", "darkMode"] },
      recommendations: { target: "args", group: "recommendedFor" },
    },
    fields: { orderIds: "{{orders.body[*].id}}" },
  },
};

/** A JSON Schema check of the keywords documentSchemaOf writes (type, properties, items). */
function validates(schema: DocumentSchema, value: unknown): boolean {
  const isObject = value !== null && typeof value === "object" && !Array.isArray(value);
  if (schema.type === "object" && !isObject) return false;
  if (schema.type === "array" && !Array.isArray(value)) return false;
  if (schema.properties && isObject) {
    for (const [name, property] of Object.entries(schema.properties)) {
      if (Object.hasOwn(value, name) && !validates(property, (value as Record<string, unknown>)[name])) return false;
    }
  }
  return !(schema.items && Array.isArray(value)) || value.every((element) => validates(schema.items!, element));
}

const ok = (body: unknown): StepResult => ({ ok: true, status: 200, headers: {}, body, startMs: 0, durationMs: 1 });
const failed: StepResult = { ok: false, error: { code: "network", message: "down" }, startMs: 0, durationMs: 1 };

function documentOf(definition: CompositeDefinition, results: Record<string, StepResult>): Record<string, unknown> {
  return shapeDocument(definition, outcomeOf(results), { params: {}, query: {}, headers: {} }).document;
}

describe("documentSchemaOf: what a client may read", () => {
  it("the home composite: a row's fields, rows as an array with renamed fields, selected flags, any JSON elsewhere", () => {
    const schema = documentSchemaOf(composite(HOME));
    expect(schema.type).toBe("object");
    expect(schema.properties).toEqual({
      user: { type: "object", properties: { id: {}, name: {} } },
      orders: { type: "array", items: { type: "object", properties: { id: {}, totalCents: {}, createdAt: {} } } },
      // A kv body may be anything: the allowed fields are described, the type is not asserted.
      flags: { properties: { newCheckout: {}, darkMode: {} } },
      recommendedFor: {},
      orderIds: {},
    });
  });

  it("without output, each step's body under its id: a d1 step's rows, anything else any JSON", () => {
    const schema = documentSchemaOf(composite({ steps: [d1("rows"), kv("flags")] }));
    expect(schema.properties).toEqual({ rows: { type: "array", items: { type: "object" } }, flags: {} });
  });

  it("nested allow paths nest, deny takes one out, merge brings a row's fields to the root, concat is an array", () => {
    const schema = documentSchemaOf(
      composite({
        steps: [d1("user"), kv("profile")],
        output: {
          steps: {
            user: { target: "[0]", allow: ["id", "name"], merge: true },
            profile: { allow: ["address.city", "address.zip", "age"], deny: ["address.zip"] },
          },
          fields: { all: { concat: ["{{user.body}}", "{{profile.body.items}}"] }, first: "{{user.body[0].id}}" },
        },
      }),
    );
    expect(schema.properties).toEqual({
      id: {},
      name: {},
      profile: { properties: { address: { properties: { city: {} } }, age: {} } },
      all: { type: "array" },
      first: {},
    });
  });

  it("a name written twice, or two fields renamed onto one, may hold either: any JSON", () => {
    const schema = documentSchemaOf(
      composite({
        steps: [d1("a"), d1("b")],
        output: {
          steps: { a: { group: "same" }, b: { group: "same", allow: ["x", "y"], rename: { x: "z", y: "z" } } },
          fields: { extra: "{{a.status}}" },
        },
      }),
    );
    expect(schema.properties).toEqual({ same: {}, extra: {} });
    // z is either y (any JSON) or x (with its field a): nothing is said of z's fields.
    const renamed = documentSchemaOf(
      composite({ steps: [d1("b")], output: { steps: { b: { allow: ["y", "x.a"], rename: { x: "z", y: "z" } } } } }),
    );
    expect(renamed.properties).toEqual({ b: { type: "array", items: { type: "object", properties: { z: {} } } } });
  });

  it("a forEach step, bulk or not, is an array of entries: its allowed fields described, an entry's type never asserted", () => {
    const items = {
      id: "items",
      forEach: [1, 2],
      batch: { size: 2, param: "id", matchBy: "id" },
      http: { url: "https://api.example.com/items" },
    };
    const schema = documentSchemaOf(
      composite({
        steps: [items, d1("rows", { forEach: [1, 2] }), kv("each", { forEach: ["a"] })],
        output: { steps: { items: { allow: ["id", "name"] }, rows: {}, each: { target: "[*]" } } },
      }),
    );
    expect(schema.properties).toEqual({
      items: { type: "array", items: { properties: { id: {}, name: {} } } },
      rows: { type: "array" },
      each: { type: "array" },
    });
    // An entry taken out of it by [n] is any JSON.
    const first = documentSchemaOf(composite({ steps: [kv("each", { forEach: ["a"] })], output: { steps: { each: { target: "[0]" } } } }));
    expect(first.properties).toEqual({ each: {} });
  });

  it("an output form it does not know leaves the document an open object", () => {
    const definition = composite(HOME);
    const unknownOutput = { ...definition, output: { ...definition.output, reshape: true } };
    expect(documentSchemaOf(unknownOutput).properties).toBeUndefined();
    const unknownRule = { ...definition, output: { steps: { user: { target: "[0]", flatten: true } } } };
    expect(documentSchemaOf(unknownRule as CompositeDefinition).properties).toEqual({ user: {} });
  });
});

describe("documentSchemaOf is never wrong: shaped documents validate", () => {
  const home = composite(HOME);
  const rows = [
    { id: 1, name: "Ada", email: "ada@example.com" },
    { id: 2, name: "Grace", email: "grace@example.com" },
  ];
  const orders = [{ id: 7, total_cents: 100, created_at: "2026-01-01" }];
  const anyJson: unknown[] = [null, 1, "text", [], [1, { newCheckout: true }], { newCheckout: [1] }, { args: { for: "1" } }];

  it.each(anyJson.map((body) => [JSON.stringify(body), body]))("home with optional bodies %s", (_, body) => {
    const document = documentOf(home, { user: ok(rows), orders: ok(orders), flags: ok(body), recommendations: ok(body) });
    expect(validates(documentSchemaOf(home), document), JSON.stringify(document)).toBe(true);
  });

  it("home with optional steps failed and no orders", () => {
    const document = documentOf(home, { user: ok(rows), orders: ok([]), flags: failed, recommendations: failed });
    expect(validates(documentSchemaOf(home), document)).toBe(true);
  });

  it("a d1 step's fallback data stands in with its own shape", () => {
    const withFallback = composite({
      steps: [d1("user"), d1("orders", { required: false, fallback: { data: { none: true } } })],
      output: { steps: { user: { target: "[0]", allow: ["id"] }, orders: { allow: ["id"] } } },
    });
    const document = documentOf(withFallback, { user: ok(rows), orders: failed });
    expect(document.orders).toEqual({});
    expect(validates(documentSchemaOf(withFallback), document), JSON.stringify(document)).toBe(true);
  });

  it("a forEach step's entries, objects or not", () => {
    const related = composite({
      steps: [kv("related", { forEach: [1, 2, 3], required: false })],
      output: { steps: { related: { allow: ["id", "name"] } } },
    });
    const document = documentOf(related, { related: ok([{ id: 1, name: "a", extra: true }, null, [1]]) });
    expect(document.related).toEqual([{ id: 1, name: "a" }, null, [1]]);
    expect(validates(documentSchemaOf(related), document), JSON.stringify(document)).toBe(true);
    expect(validates(documentSchemaOf(related), { related: { id: 1 } })).toBe(false);
  });

  it("the check itself refuses a document of another shape (so the properties above are tested)", () => {
    expect(validates(documentSchemaOf(home), { orders: { id: 1 } })).toBe(false);
    expect(validates(documentSchemaOf(home), { user: [rows[0]] })).toBe(false);
  });
});
