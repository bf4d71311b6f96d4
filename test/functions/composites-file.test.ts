import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApp, loadGateway } from "../../functions/index";
import { API_KEY } from "./batch-helpers";
import { call, captureLogs, expectProblem, type LogLine } from "./helpers";

/**
 * A composites file that is wrong never takes the gateway down: one that does not parse leaves every
 * other route serving and its prefix answering 503 naming the file, line and column; a broken composite,
 * or one that does not fit the configuration, answers 503 naming where it is; /healthz says so without
 * a reason; an admin's ?debug=1 shows the reason.
 */

const FILE = "functions/composites.jsonc";
const ADMIN_KEY = "admin-key-0123456789";
const keyed = { authorization: `Bearer ${API_KEY}` };
const admin = { authorization: `Bearer ${ADMIN_KEY}` };

type App = ReturnType<typeof createApp>["app"];

// Every 503 here is provoked on purpose, and each one logs its reason under the request id its caller was given:
// captured, and checked to be exactly that, in every test.
let errors: () => LogLine[];
beforeEach(() => {
  errors = captureLogs("error");
});
afterEach(() => {
  for (const line of errors())
    expect(line).toMatchObject({ message: "request failed", code: "not_configured", requestId: expect.any(String) });
});

async function fetchApp(app: App, path: string, init: RequestInit = {}) {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`http://fanout.test${path}`, init), env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

async function healthOf(app: App) {
  const res = await fetchApp(app, "/healthz");
  expect(res.status).toBe(200);
  return ((await res.json()) as { status: string; composites: Record<string, unknown> }).composites;
}

// The "steps" key on line 5 follows "auth" without a comma.
const SYNTAX_ERROR = [
  "// a comment is fine",
  '{ "composites": {',
  '    "home": { "path": "home",',
  '      "auth": "apiKey"',
  '      "steps": [{ "id": "w", "wait": { "ms": 1 } }] } } }',
].join("\n");
const AT = `${FILE}:5:7`;

describe("a composites file that does not parse", () => {
  const { app } = loadGateway(SYNTAX_ERROR);

  it("/healthz answers 200 and says where the file stops loading, not why", async () => {
    expect(await healthOf(app)).toEqual({ ok: false, file: FILE, served: 0, broken: [], misconfigured: [], error: AT });
  });

  it("/v1/batch, /docs and /openapi.json keep answering", async () => {
    const batch = await fetchApp(app, "/v1/batch", {
      method: "POST",
      headers: { ...keyed, "content-type": "application/json" },
      body: JSON.stringify({ steps: [{ id: "w", wait: { ms: 1 } }] }),
    });
    expect(batch.status).toBe(200);
    expect((await fetchApp(app, "/docs")).status).toBe(200);
    expect((await fetchApp(app, "/openapi.json")).status).toBe(200);
  });

  it("every path under the prefix answers 503 not_configured naming the file, line and column, for any caller", async () => {
    for (const [path, headers] of [
      ["/v1/c/home?user=1", keyed],
      ["/v1/c/home", {}],
      ["/v1/c/anything/else", keyed],
    ] as const) {
      const problem = await expectProblem(await fetchApp(app, path, { headers }), 503, "not_configured");
      expect(problem.detail).toContain(`${FILE} does not load (${AT})`);
      expect(problem.detail).not.toContain("comma");
      expect(problem.invalidParams).toBeUndefined();
    }
    await expectProblem(await fetchApp(app, "/v1/nothing", { headers: keyed }), 404, "not_found");
  });

  it("an admin's ?debug=1 shows the reason; another key gets 403, no key 401", async () => {
    const problem = await expectProblem(await fetchApp(app, "/v1/c/home?debug=1", { headers: admin }), 503, "not_configured");
    expect(problem.detail).toContain("syntax error: expected a comma");
    expect(problem.invalidParams).toEqual([{ name: "(file)", reason: `syntax error: expected a comma (,) (${AT})` }]);
    await expectProblem(await fetchApp(app, "/v1/c/home?debug=1", { headers: keyed }), 403, "forbidden");
    await expectProblem(await fetchApp(app, "/v1/c/home?debug=1"), 401, "unauthorized");
  });

  it("answers 503 under the prefix the file asks for, when that much of it is readable", async () => {
    const { app: screens } = loadGateway('{ "prefix": "/screens/", "composites": { "a": ');
    await expectProblem(await fetchApp(screens, "/screens/a", { headers: keyed }), 503, "not_configured");
    await expectProblem(await fetchApp(screens, "/v1/c/a", { headers: keyed }), 404, "not_found");
  });

  it("an invalid top level is the same: 503 naming the field's position", async () => {
    const { app: top } = loadGateway('{\n  "prefix": "v1/c",\n  "composites": {}\n}');
    expect(await healthOf(top)).toMatchObject({ ok: false, error: `${FILE}:2:3` });
    const problem = await expectProblem(await fetchApp(top, "/v1/c/x", { headers: keyed }), 503, "not_configured");
    expect(problem.detail).toContain(`${FILE}:2:3`);
  });
});

describe("a composites file that parses, with a broken composite and one that does not fit the configuration", () => {
  const text = [
    "{",
    '  "composites": {',
    '    "good": { "path": "good", "auth": "apiKey", "steps": [{ "id": "w", "wait": { "ms": 1 } }] },',
    '    "typo": { "path": "typo", "auth": "apiKey", "steps": [{ "id": "w", "requird": false, "wait": { "ms": 1 } }] },',
    '    "misfit": { "path": "misfit", "auth": "apiKey", "steps": [{ "id": "q", "d1": { "query": "userByld", "params": [1] } }] }',
    "  }",
    "}",
  ].join("\n");
  const { app } = loadGateway(text);

  it("the good one is served; /healthz names the broken one and the one that does not fit, without a reason", async () => {
    expect((await fetchApp(app, "/v1/c/good", { headers: keyed })).status).toBe(200);
    expect(await healthOf(app)).toEqual({ ok: false, file: FILE, served: 2, broken: ["typo"], misconfigured: ["misfit"] });
  });

  it("the broken one answers 503 naming its position; an admin's ?debug=1 shows each problem and where", async () => {
    const problem = await expectProblem(await fetchApp(app, "/v1/c/typo", { headers: keyed }), 503, "not_configured");
    expect(problem.detail).toContain(`the composite "typo" is not configured correctly (${FILE}:4:72)`);
    expect(problem.detail).not.toContain("requird");
    const debug = await expectProblem(await fetchApp(app, "/v1/c/typo?debug=1", { headers: admin }), 503, "not_configured");
    expect(debug.invalidParams).toEqual([
      { name: "composites.typo.steps[0].requird", reason: `unknown key "requird"; did you mean \`required\`? (${FILE}:4:72)` },
    ]);
    await expectProblem(await fetchApp(app, "/v1/c/typo?debug=1", { headers: keyed }), 403, "forbidden");
  });

  it("the one that does not fit answers 503 naming its position; an admin's ?debug=1 shows why", async () => {
    const problem = await expectProblem(await fetchApp(app, "/v1/c/misfit", { headers: keyed }), 503, "not_configured");
    expect(problem.detail).toContain(`the composite "misfit" is not configured correctly (${FILE}:5:84)`);
    expect(problem.detail).not.toContain("userByld");
    const debug = await expectProblem(await fetchApp(app, "/v1/c/misfit?debug=1", { headers: admin }), 503, "not_configured");
    expect(debug.detail).toContain("does not fit this configuration");
    expect(debug.invalidParams).toEqual([
      {
        name: "composites.misfit.steps[0].d1.query",
        reason: `no named query "userByld" (D1_QUERIES: userById, ordersByUser); did you mean \`userById\`? (${FILE}:5:84)`,
      },
    ]);
  });
});

describe("the Worker and its fallback", () => {
  it("the Worker serves functions/composites.jsonc: /healthz says it loaded", async () => {
    const res = await call("/healthz");
    expect(((await res.json()) as { composites: unknown }).composites).toEqual({
      ok: true,
      file: FILE,
      served: 3,
      broken: [],
      misconfigured: [],
    });
  });

  it("a catalog whose routes cannot be built still leaves a gateway: without composites, its prefix 503", async () => {
    let calls = 0;
    const failing: typeof createApp = (catalog) => {
      if (calls++ === 0) throw new Error("the router refused a route");
      return createApp(catalog);
    };
    const { app } = loadGateway(
      '{ "composites": { "w": { "path": "w", "auth": "none", "steps": [{ "id": "w", "wait": { "ms": 1 } }] } } }',
      FILE,
      failing,
    );
    expect(await healthOf(app)).toMatchObject({ ok: false, served: 0, error: `${FILE}:1:3` });
    const problem = await expectProblem(await fetchApp(app, "/v1/c/w"), 503, "not_configured");
    expect(problem.detail).toContain(`${FILE} does not load (${FILE}:1:3)`);
    const debug = await expectProblem(await fetchApp(app, "/v1/c/w?debug=1", { headers: admin }), 503, "not_configured");
    expect(debug.detail).toContain("the router refused a route");
  });
});
