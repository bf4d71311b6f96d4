import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "./server";

/**
 * A composites file with a syntax error under `npm start`, as a team would make one: the Worker still
 * builds and starts, /healthz, /v1/batch and /docs answer, and every request under /v1/c/ answers 503
 * `not_configured` naming the file, line and column (an admin's ?debug=1: the reason). It runs in a
 * copy of the project whose functions/composites.jsonc is test/fixtures/composites/syntax-error.jsonc
 * (the shared one is never touched), with this project's node_modules.
 */

const ROOT = join(new URL("../..", import.meta.url).pathname);
const PORT = 8831;
const FIXTURE = join(ROOT, "test/fixtures/composites/syntax-error.jsonc");
/** Where the fixture's missing comma is: the "steps" key after "auth": "apiKey". */
const AT = "functions/composites.jsonc:9:7";
const KEY = { authorization: "Bearer fanout-local-demo-key" };
const ADMIN = { authorization: "Bearer fanout-local-admin-key" };

let project: string;
let server: RunningServer;

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), "fanout-composites-file-"));
  mkdirSync(join(project, "test/fixtures"), { recursive: true });
  for (const entry of [
    "functions",
    "lib",
    "package.json",
    "wrangler.toml",
    "local.env",
    "tsconfig.json",
    "test/fixtures/seed",
    "test/check/start.mjs",
  ])
    cpSync(join(ROOT, entry), join(project, entry), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(project, "node_modules"));
  cpSync(FIXTURE, join(project, "functions/composites.jsonc"));
  server = await startServer(PORT, { cwd: project });
});

afterAll(async () => {
  await server?.stop();
  if (project) rmSync(project, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${server.origin}${path}`, { headers });

describe("npm start with a composites file that does not parse", () => {
  it("the fixture really has the syntax error (JSON.parse refuses it too)", () => {
    expect(() => JSON.parse(readFileSync(FIXTURE, "utf8").replace(/^\/\/.*$/gm, ""))).toThrow();
  });

  it("/healthz answers 200 and says the composites file is broken, where, and nothing of why", async () => {
    const res = await get("/healthz");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; composites: Record<string, unknown> };
    expect(body.status).toBe("ok");
    expect(body.composites).toEqual({ ok: false, file: "functions/composites.jsonc", served: 0, broken: [], misconfigured: [], error: AT });
  });

  it("POST /v1/batch, /docs and /openapi.json keep answering", async () => {
    const batch = await fetch(`${server.origin}/v1/batch`, {
      method: "POST",
      headers: { ...KEY, "content-type": "application/json" },
      body: JSON.stringify({ steps: [{ id: "w", wait: { ms: 1 } }] }),
    });
    expect(batch.status).toBe(200);
    expect(await batch.json()).toMatchObject({ completed: true, results: { w: { ok: true } } });
    expect((await get("/docs")).status).toBe(200);
    const doc = await get("/openapi.json");
    expect(doc.status).toBe(200);
    expect(Object.keys(((await doc.json()) as { paths: object }).paths).some((path) => path.startsWith("/v1/c/"))).toBe(false);
  });

  it("/v1/c/home answers 503 not_configured naming the file, line and column, for any caller; other paths stay 404", async () => {
    for (const headers of [KEY, {}]) {
      const res = await get("/v1/c/home?user=1", headers);
      expect(res.status).toBe(503);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      const problem = (await res.json()) as { code: string; detail: string };
      expect(problem.code).toBe("not_configured");
      expect(problem.detail).toContain(AT);
      // The reason is the operator's: in the log and behind an admin's ?debug=1.
      expect(problem.detail).not.toContain("comma");
    }
    expect((await get("/v1/c/anything/else", KEY)).status).toBe(503);
    expect((await get("/v1/nothing-here", KEY)).status).toBe(404);
  });

  it("an admin's ?debug=1 shows the reason; another key's is 403", async () => {
    const res = await get("/v1/c/home?debug=1", ADMIN);
    expect(res.status).toBe(503);
    const problem = (await res.json()) as { detail: string; invalidParams: Array<{ name: string; reason: string }> };
    expect(problem.detail).toContain(`${AT}`);
    expect(problem.invalidParams).toEqual([{ name: "(file)", reason: `syntax error: expected a comma (,) (${AT})` }]);
    expect((await get("/v1/c/home?debug=1", KEY)).status).toBe(403);
  });

  it("the Worker built and started (no build error, no uncaught exception)", () => {
    expect(server.output()).not.toMatch(/Build failed|Uncaught|✘ \[ERROR\]/);
  });
});
