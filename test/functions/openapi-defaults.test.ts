import { describe, expect, it } from "vitest";
import { requestDefaultsInWords } from "../../functions/routes/openapi-defaults";
import { call } from "./helpers";

/**
 * Request defaults in words: openapi-typescript makes a component's defaulted property required, so
 * the components only requests use carry their defaults in descriptions, and those an answer uses keep
 * `default` (test/static/openapi-client.test.ts compiles the minimal batch on types generated without flags).
 */

type Schema = { default?: unknown; description?: string; properties?: Record<string, Schema>; required?: string[] };
interface Document {
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: { schemas: Record<string, Schema> };
}

describe("requestDefaultsInWords", () => {
  it("the served document: BatchRequest.mode and HttpStep.method are optional, their defaults said in words", async () => {
    const doc = (await (await call("/openapi.json")).json()) as Document;
    const { BatchRequest, HttpStep } = doc.components.schemas;
    expect(BatchRequest!.properties!.mode).not.toHaveProperty("default");
    expect(BatchRequest!.properties!.mode!.description).toBe("Default allSettled");
    expect(BatchRequest!.required).toEqual(["steps"]);
    expect(HttpStep!.properties!.method).not.toHaveProperty("default");
    expect(HttpStep!.properties!.method!.description).toBe("Default GET");
    // No request component has a default left (KvStep.type and R2Step.as had one).
    for (const name of ["BatchRequest", "Step", "StepHttp", "HttpStep", "KvStep", "R2Step", "Callback"])
      expect(JSON.stringify(doc.components.schemas[name]), name).not.toContain('"default"');
  });

  it("a component an answer uses keeps its default, a nested request one loses it, parameters are untouched", () => {
    const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
    const doc = {
      paths: {
        "/x": {
          post: {
            parameters: [{ name: "n", in: "query", schema: { type: "integer", default: 3 } }],
            requestBody: { content: { "application/json": { schema: ref("Request") } } },
            responses: { 200: { content: { "application/json": { schema: ref("Answer") } } } },
          },
        },
      },
      components: {
        schemas: {
          Request: {
            type: "object",
            properties: { inner: ref("Inner"), shared: ref("Shared"), list: { type: "array", items: { default: 1 } } },
          },
          Inner: { type: "object", properties: { mode: { type: "string", default: "a", description: "How" } } },
          Shared: { type: "object", properties: { n: { type: "integer", default: 2 } } },
          Answer: { type: "object", properties: { shared: ref("Shared"), mode: { type: "string", default: "b" } } },
        },
      },
    };
    const schemas = requestDefaultsInWords(structuredClone(doc)).components.schemas;
    expect(schemas.Inner.properties.mode).toEqual({ type: "string", description: "How; default a" });
    expect(schemas.Request.properties.list.items).toEqual({ description: "Default 1" });
    expect(schemas.Shared).toEqual(doc.components.schemas.Shared);
    expect(schemas.Answer).toEqual(doc.components.schemas.Answer);
  });
});
