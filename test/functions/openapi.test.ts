import { describe, expect, it } from "vitest";
import { STEP_VARIANTS, Step } from "../../functions/routes/batch-schema";
import { STEP_KINDS } from "../../lib/batch/steps/index";
import { call } from "./helpers";

interface Operation {
  operationId?: string;
  tags?: string[];
  summary?: string;
  security?: unknown[];
  parameters?: Array<{ $ref?: string; name?: string; in?: string; required?: boolean; schema?: { type?: unknown } }>;
  responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, unknown> }>;
}
interface Document {
  tags: Array<{ name: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { oneOf?: Array<{ $ref: string }> }>; parameters: Record<string, { name: string }> };
}

async function documentOf(): Promise<{ doc: Document; etag: string }> {
  const res = await call("/openapi.json");
  expect(res.status).toBe(200);
  return { doc: (await res.json()) as Document, etag: res.headers.get("etag")! };
}

function operations(doc: Document): Array<[string, Operation]> {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]): [string, Operation] => [`${method} ${path}`, op]),
  );
}

describe("GET /openapi.json", () => {
  it("is built once and served with a strong ETag; If-None-Match answers 304", async () => {
    const first = await call("/openapi.json");
    const etag = first.headers.get("etag");
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const second = await call("/openapi.json");
    expect(second.headers.get("etag")).toBe(etag);
    expect(await second.text()).toBe(await first.text());
    const notModified = await call("/openapi.json", { headers: { "if-none-match": etag! } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get("etag")).toBe(etag);
    expect(await notModified.text()).toBe("");
    expect((await call("/openapi.json", { headers: { "if-none-match": '"other"' } })).status).toBe(200);
  });

  it("gives every operation a unique operationId, a declared tag and a summary", async () => {
    const { doc } = await documentOf();
    const declared = new Set(doc.tags.map((tag) => tag.name));
    const ids = new Set<string>();
    for (const [name, op] of operations(doc)) {
      expect(op.operationId, name).toBeTruthy();
      expect(ids.has(op.operationId!), `${name}: duplicate operationId`).toBe(false);
      ids.add(op.operationId!);
      expect(op.tags?.length, name).toBeGreaterThan(0);
      for (const tag of op.tags!) expect(declared.has(tag), `${name}: tag ${tag}`).toBe(true);
      expect(op.summary, name).toBeTruthy();
    }
  });

  it("documents path parameters as required, non-nullable", async () => {
    const { doc } = await documentOf();
    for (const [name, op] of operations(doc)) {
      for (const param of op.parameters ?? []) {
        if (param.in !== "path") continue;
        expect(param.required, `${name} ${param.name}`).toBe(true);
        expect(JSON.stringify(param.schema?.type), `${name} ${param.name}`).not.toContain("null");
      }
    }
    expect(doc.paths["/v1/sim/delay/{ms}"]!.get!.parameters![0]!.schema!.type).toBe("integer");
  });

  it("declares the batch's request headers, Location, x-request-id and Server-Timing, and the streamed answers", async () => {
    const { doc } = await documentOf();
    const batch = doc.paths["/v1/batch"]!.post!;
    const headers = batch.parameters!.map((param) => doc.components.parameters[param.$ref!.split("/").pop()!]!.name);
    expect(headers).toEqual(["Idempotency-Key", "Prefer", "Accept"]);
    expect(Object.keys(batch.responses["202"]!.headers!)).toContain("Location");
    expect(Object.keys(batch.responses["200"]!.content!)).toEqual(["application/json", "application/x-ndjson", "text/event-stream"]);
    for (const [name, op] of operations(doc)) {
      for (const [status, response] of Object.entries(op.responses)) {
        expect(Object.keys(response.headers ?? {}), `${name} ${status}`).toEqual(expect.arrayContaining(["x-request-id", "Server-Timing"]));
      }
    }
  });
});

describe("the documented step (oneOf) and the validator agree", () => {
  const valid: Record<(typeof STEP_KINDS)[number], Record<string, unknown>> = {
    http: { url: "https://api.example.com/users/1" },
    kv: { key: "flags:a" },
    r2: { key: "avatars/1.png" },
    d1: { query: "userById", params: [1] },
    cache: { url: "https://api.example.com/x" },
    wait: { ms: 10 },
  };
  const variantsAccepting = (step: unknown) => STEP_VARIANTS.filter(({ schema }) => schema.safeParse(step).success).map(({ kind }) => kind);

  it("the document's Step is a oneOf of exactly the six variants", async () => {
    const { doc } = await documentOf();
    const refs = doc.components.schemas.Step!.oneOf!.map((ref) => ref.$ref.split("/").pop());
    expect(refs).toEqual(STEP_VARIANTS.map(({ name }) => name));
    expect(STEP_VARIANTS.map(({ kind }) => kind)).toEqual([...STEP_KINDS]);
    for (const { name } of STEP_VARIANTS) expect(doc.components.schemas, name).toHaveProperty([name]);
  });

  it.each(STEP_KINDS)("a valid %s step is accepted by the validator and by exactly its variant", (kind) => {
    const step = { id: "s", dependsOn: ["a"], expectedMs: 100, [kind]: valid[kind] };
    expect(Step.safeParse(step).success).toBe(true);
    expect(variantsAccepting(step)).toEqual([kind]);
  });

  it("a bulk option: documented on the http variant only (the plan refuses it on the other kinds, a 400 naming batch)", async () => {
    const batch = { size: 25, param: "id", matchBy: "id" };
    expect(variantsAccepting({ id: "s", forEach: [1], http: valid.http, batch })).toEqual(["http"]);
    expect(variantsAccepting({ id: "s", forEach: [1], kv: valid.kv, batch })).toEqual([]);
    const { doc } = await documentOf();
    const properties = (name: string) => (doc.components.schemas[name] as { properties: Record<string, unknown> }).properties;
    expect(properties("StepHttp").batch).toMatchObject({ type: "object", required: ["size", "matchBy"] });
    expect(properties("StepKv").batch).toEqual({ not: {} });
  });

  it("an id-only step, a step of two kinds and an unknown field are refused by both", () => {
    for (const step of [
      { id: "x" },
      { id: "x", http: valid.http, kv: valid.kv },
      { id: "x", wait: valid.wait, extra: 1 },
      { id: "x", wait: { ms: -1 } },
      { id: "x", wait: valid.wait, expectedMs: -1 },
    ]) {
      expect(Step.safeParse(step).success, JSON.stringify(step)).toBe(false);
      expect(variantsAccepting(step), JSON.stringify(step)).toEqual([]);
    }
  });
});
