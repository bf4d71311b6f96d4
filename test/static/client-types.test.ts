import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

/**
 * fanout/client's AppType is built from functions/client/openapi.d.ts, generated from the OpenAPI
 * document: a route, a schema or a composite changed without `npm run client:types` fails here, naming
 * the command (test/static/openapi-client.test.ts compiles clients against the export).
 */

const root = new URL("../..", import.meta.url).pathname;

describe("the generated client types", () => {
  it("functions/client/openapi.d.ts is the current document's", async () => {
    const result = await promisify(execFile)("node", ["test/check/client-types.mjs", "--check"], { cwd: root, encoding: "utf8" }).then(
      () => "",
      (error: { stderr?: string }) => error.stderr ?? String(error),
    );
    expect(result).toBe("");
  }, 120_000);
});
