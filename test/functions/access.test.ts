import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import compositesText from "../../functions/composites.jsonc";
import type { RouteRule } from "../../functions/http/access";
import { loadGateway } from "../../functions/index";
import { API_KEY, UPSTREAM, upstreamHits } from "./batch-helpers";
import { captureLogs, type LogLine } from "./helpers";

/**
 * Holds the gateway to its route table (functions/http/access.ts), as an outsider would find it: every route
 * the app really serves (from the router and /openapi.json) has a rule and no rule names a route that
 * is gone; every route answers an anonymous, a keyed and an admin caller as its rule says; the demo
 * surface does not exist while DEMO_ENABLED is off; and no public route reaches an upstream or writes
 * storage, whatever an anonymous caller puts in its parameters (counted at the upstream, at fetch()
 * and at every storage binding).
 */

const ADMIN_KEY = "admin-key-0123456789";
/**
 * The one error these tests provoke without asking: the demo composite GET /v1/c/welcome (public) requires the KV value
 * "greeting", which the tests' empty storage does not hold, so it answers 502 and logs why.
 */
const isMissingGreeting = (line: LogLine) =>
  line.message === "request failed" && line.code === "not_found" && String(line.detail).includes('no KV value for "greeting"');
/** The upstream path free-text parameters point at: fresh per test, so the upstream's hit count is the test's own. */
let probePath = "/public-route-probe";
beforeEach(() => {
  probePath = `/public-route-probe/${crypto.randomUUID()}`;
});

// The Worker's own catalog, composed by the same root as the deployed Worker.
const { app, table } = loadGateway(compositesText);

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: { type?: string; enum?: unknown[]; minimum?: number; maximum?: number; format?: string; default?: unknown };
}
interface Operation {
  security?: unknown[];
  parameters?: Parameter[];
  responses: Record<string, unknown>;
}
type Document = { paths: Record<string, Record<string, Operation>> };

const routerPath = (path: string) => path.replace(/\{([^}]+)\}/g, ":$1");

async function fetchApp(request: Request, vars: Record<string, unknown> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(request, { ...env, ...vars }, ctx);
  await res.arrayBuffer();
  await waitOnExecutionContext(ctx);
  return res;
}

async function documentOf(demo: boolean): Promise<Document> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request("http://fanout.test/openapi.json"), { ...env, DEMO_ENABLED: String(demo) }, ctx);
  expect(res.status).toBe(200);
  return (await res.json()) as Document;
}

/** Every `METHOD /pattern` of an OpenAPI document, with its operation. */
function operationsOf(doc: Document): Map<string, Operation> {
  const operations = new Map<string, Operation>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item)) operations.set(`${method.toUpperCase()} ${routerPath(path)}`, operation);
  }
  return operations;
}

/** Every `METHOD /pattern` the router serves (`use` middleware is method ALL, not a route). */
const served = () => new Set(app.routes.filter((route) => route.method !== "ALL").map((route) => `${route.method} ${route.path}`));

/** A value a caller could send for a parameter: small numbers, the first allowed value, and for free text an upstream URL. */
function sampleOf(parameter: Parameter): string {
  const schema = parameter.schema ?? {};
  if (schema.enum) return String(schema.enum[0]);
  if (schema.type === "integer" || schema.type === "number") {
    return String(Math.min(schema.maximum ?? 1, Math.max(schema.minimum ?? 1, 1)));
  }
  if (schema.format === "uuid") return crypto.randomUUID();
  return `${UPSTREAM}${probePath}`;
}

/**
 * Requests a caller might send to a route: its required parameters only, then every parameter. Path
 * parameters come from the document, or are `1` for a route it does not describe.
 */
function requestsFor(key: string, operation: Operation | undefined, init: RequestInit = {}): Request[] {
  const [method, pattern] = key.split(" ") as [string, string];
  const parameters = (operation?.parameters ?? []).filter((parameter) => parameter.in === "path" || parameter.in === "query");
  const pathValue = (name: string) => {
    const parameter = parameters.find((candidate) => candidate.in === "path" && candidate.name === name);
    return encodeURIComponent(parameter ? sampleOf(parameter) : "1");
  };
  const path = pattern.replace(/:(\w+)/g, (_, name: string) => pathValue(name));
  const body = method === "GET" || method === "HEAD" ? {} : { body: "{}", headers: { "content-type": "application/json" } };
  return [true, false].map((requiredOnly) => {
    const url = new URL(`http://fanout.test${path}`);
    for (const parameter of parameters) {
      if (parameter.in === "query" && (parameter.required || !requiredOnly)) url.searchParams.set(parameter.name, sampleOf(parameter));
    }
    const headers = new Headers(body.headers);
    for (const [name, value] of new Headers(init.headers)) headers.set(name, value);
    return new Request(url, { method, ...(body.body ? { body: body.body } : {}), headers });
  });
}

const bearer = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
const isRefusal = (status: number) => status === 401 || status === 403;

// Each test walks every route, some more than once.
describe("the route table (functions/http/access.ts)", { timeout: 60_000 }, () => {
  it("has a rule for every route the app serves, and no rule for a route it does not serve", async () => {
    const routes = served();
    expect(
      [...routes].filter((key) => !table.has(key)),
      "served without a rule",
    ).toEqual([]);
    expect(
      [...table.keys()].filter((key) => !routes.has(key)),
      "a rule for no route",
    ).toEqual([]);
    const documented = [...operationsOf(await documentOf(true)).keys()];
    expect(
      documented.filter((key) => !table.has(key)),
      "documented without a rule",
    ).toEqual([]);
    // Everything but the pages and the document itself is documented.
    expect([...routes].filter((key) => !documented.includes(key)).sort()).toEqual(["GET /docs", "GET /openapi.json", "GET /playground"]);
  });

  it("gives every public route its reason", () => {
    for (const [key, rule] of table) if (rule.access === "public") expect(rule.why.length, key).toBeGreaterThan(10);
  });

  it("is what /openapi.json says: security [] on public routes, the bearer key and a 401 on the others", async () => {
    for (const [key, operation] of operationsOf(await documentOf(true))) {
      const rule = table.get(key)!;
      if (rule.access === "public") {
        expect(operation.security, key).toEqual([]);
      } else {
        expect(operation.security, key).toEqual([{ bearer: [] }]);
        expect(Object.keys(operation.responses), key).toContain("401");
      }
    }
  });

  it("is what the app does: anonymous, keyed and admin callers get what each route's rule says", async () => {
    const errors = captureLogs("error");
    const operations = operationsOf(await documentOf(true));
    const expectations: Array<[string, RouteRule["access"], string, number]> = [];
    for (const [key, rule] of table) {
      // Every parameter set: small numbers, so timers are short.
      const [, anonymous] = requestsFor(key, operations.get(key));
      const [, keyed] = requestsFor(key, operations.get(key), bearer(API_KEY));
      const [, admin] = requestsFor(key, operations.get(key), bearer(ADMIN_KEY));
      expectations.push([key, rule.access, "anonymous", (await fetchApp(anonymous!)).status]);
      expectations.push([key, rule.access, "keyed", (await fetchApp(keyed!)).status]);
      expectations.push([key, rule.access, "admin", (await fetchApp(admin!)).status]);
    }
    for (const [key, access, caller, status] of expectations) {
      const expected =
        access === "public" || caller === "admin" || (access === "apiKey" && caller === "keyed")
          ? "served"
          : caller === "anonymous"
            ? 401
            : 403;
      expect(expected === "served" ? !isRefusal(status) : status === expected, `${key} (${access}) as ${caller}: ${status}`).toBe(true);
    }
    // One per caller of the welcome composite, and nothing else.
    expect(errors().filter(isMissingGreeting)).toHaveLength(3);
    expect(errors().filter((line) => !isMissingGreeting(line))).toEqual([]);
  });

  it("refuses a route that has no rule (fail closed), however open its handler is", async () => {
    const errors = captureLogs("error");
    const { app: extended } = loadGateway(compositesText);
    extended.get("/v1/unlisted", (c) => c.text("open"));
    const res = await extended.fetch(new Request("http://fanout.test/v1/unlisted"), env, createExecutionContext());
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain("open");
    // The operator learns why, under the request id the client was given.
    expect(errors()).toEqual([
      expect.objectContaining({
        code: "internal",
        detail: "GET /v1/unlisted has no access rule in functions/http/access.ts",
        requestId: res.headers.get("x-request-id"),
      }),
    ]);
  });
});

describe("the demo surface (DEMO_ENABLED)", { timeout: 60_000 }, () => {
  const demoRoutes = [...table].filter(([, rule]) => rule.demo).map(([key]) => key);

  it("covers /v1/sim/*, /v1/examples/* and the demo composites", () => {
    for (const prefix of ["GET /v1/sim/", "GET /v1/examples/"]) {
      const under = [...table.keys()].filter((key) => key.startsWith(prefix));
      expect(under.length, prefix).toBeGreaterThan(0);
      for (const key of under) expect(demoRoutes, key).toContain(key);
    }
    expect(demoRoutes).toEqual(expect.arrayContaining(["GET /v1/c/home", "GET /v1/c/welcome"]));
  });

  it("off: every demo route answers 404 exactly as a route that does not exist, keyed or not", async () => {
    const off = { DEMO_ENABLED: "false" };
    for (const key of demoRoutes) {
      for (const init of [{}, bearer(API_KEY), bearer(ADMIN_KEY)]) {
        const [request] = requestsFor(key, undefined, init);
        const ctx = createExecutionContext();
        const res = await app.fetch(request!, { ...env, ...off }, ctx);
        expect(res.status, key).toBe(404);
        expect(res.headers.get("content-type")).toBe("application/problem+json");
        const body = (await res.json()) as { code: string; detail: string };
        expect(body.code, key).toBe("not_found");
        expect(body.detail, key).toBe(`no route for ${request!.method} ${new URL(request!.url).pathname}`);
      }
    }
  });

  it("off: another method on a demo route's path is a 404 too, not a 405 that would name the route's methods", async () => {
    for (const demo of [true, false]) {
      const res = await app.fetch(
        new Request("http://fanout.test/v1/sim/delay/1", { method: "POST" }),
        { ...env, DEMO_ENABLED: String(demo) },
        createExecutionContext(),
      );
      expect(res.status, `demo ${demo}`).toBe(demo ? 405 : 404);
      if (demo) expect(res.headers.get("allow")).toBe("GET, HEAD");
    }
  });

  it("off: the other routes still answer, /openapi.json describes no demo route and /healthz says so", async () => {
    const off = { DEMO_ENABLED: "false" };
    expect((await fetchApp(new Request("http://fanout.test/healthz"), off)).status).toBe(200);
    const batch = new Request("http://fanout.test/v1/batch", {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ steps: [{ id: "w", wait: { ms: 1 } }] }),
    });
    expect((await fetchApp(batch, off)).status).toBe(200);
    const documented = [...operationsOf(await documentOf(false)).keys()];
    expect(documented.filter((key) => table.get(key)?.demo)).toEqual([]);
    expect(documented).toEqual(expect.arrayContaining(["GET /healthz", "POST /v1/batch", "GET /v1/jobs/:id", "GET /v1/audit"]));
    const health = await app.fetch(new Request("http://fanout.test/healthz"), { ...env, ...off }, createExecutionContext());
    expect(await health.json()).toMatchObject({ features: { demo: false } });
  });

  it("off: a batch's relative /v1/sim/ step URL is refused, naming the field and the switch", async () => {
    const batch = new Request("http://fanout.test/v1/batch", {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ steps: [{ id: "s", http: { url: "/v1/sim/delay/1" } }] }),
    });
    const res = await app.fetch(batch, { ...env, DEMO_ENABLED: "false" }, createExecutionContext());
    expect(res.status).toBe(400);
    const body = (await res.json()) as { invalidParams: Array<{ name: string; reason: string }> };
    expect(body.invalidParams).toContainEqual({ name: "steps[0].http.url", reason: expect.stringContaining("DEMO_ENABLED") });
  });
});

/** Storage bindings that record every write; reads pass through. */
function recordingBindings(writes: string[]): Record<string, unknown> {
  const watch = (name: string, target: object, isWrite: (method: string, args: unknown[]) => boolean) =>
    new Proxy(target, {
      get(object, property) {
        const value = Reflect.get(object, property);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          if (isWrite(String(property), args)) writes.push(`${name}.${String(property)}`);
          return value.apply(object, args);
        };
      },
    });
  const READ_SQL = /^\s*(select|with)\b/i;
  return {
    KV: watch("KV", env.KV, (method) => ["put", "delete"].includes(method)),
    BUCKET: watch("BUCKET", env.BUCKET, (method) => ["put", "delete", "createMultipartUpload", "resumeMultipartUpload"].includes(method)),
    DB: watch(
      "DB",
      env.DB,
      (method, args) => method === "exec" || method === "batch" || (method === "prepare" && !READ_SQL.test(String(args[0]))),
    ),
    JOBS: watch("JOBS", env.JOBS, () => true),
    JOBS_DLQ: watch("JOBS_DLQ", env.JOBS_DLQ, () => true),
    AUDIT: watch("AUDIT", env.AUDIT, () => true),
    IDEMPOTENCY_KEYS: watch("IDEMPOTENCY_KEYS", env.IDEMPOTENCY_KEYS, () => true),
  };
}

describe("public routes (demo on)", { timeout: 60_000 }, () => {
  const realFetch = globalThis.fetch;
  let outgoing: string[] = [];

  beforeEach(() => {
    outgoing = [];
    globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
      outgoing.push(input instanceof Request ? input.url : String(input));
      return realFetch(input, init);
    }) as typeof fetch;
  });
  afterEach(() => {
    globalThis.fetch = realFetch;
  });

  it("reach no upstream and write no storage, whatever an anonymous caller sends", async () => {
    const errors = captureLogs("error");
    const operations = operationsOf(await documentOf(true));
    const publicRoutes = [...table].filter(([, rule]) => rule.access === "public").map(([key]) => key);
    expect(publicRoutes.length).toBeGreaterThan(5);
    const findings: string[] = [];
    for (const key of publicRoutes) {
      for (const request of requestsFor(key, operations.get(key))) {
        const writes: string[] = [];
        outgoing = [];
        const res = await fetchApp(request, recordingBindings(writes));
        expect(isRefusal(res.status), `${key}: ${res.status}`).toBe(false);
        for (const url of outgoing) findings.push(`${key} (${request.url}) fetched ${url}`);
        for (const write of writes) findings.push(`${key} (${request.url}) wrote ${write}`);
      }
    }
    globalThis.fetch = realFetch;
    expect(findings).toEqual([]);
    expect(await upstreamHits(probePath)).toBe(0);
    expect(errors().filter((line) => !isMissingGreeting(line))).toEqual([]);
  });

  it("the probe sees what it is looking for: a keyed route that fetches and one that writes are both caught", async () => {
    const operations = operationsOf(await documentOf(true));
    const writes: string[] = [];
    for (const key of ["GET /v1/examples/fetch", "GET /v1/examples/callback"]) {
      for (const request of requestsFor(key, operations.get(key), bearer(API_KEY))) await fetchApp(request, recordingBindings(writes));
    }
    globalThis.fetch = realFetch;
    expect(outgoing).toContain(`${UPSTREAM}${probePath}`);
    expect(writes).toContain("KV.put");
    expect(await upstreamHits(probePath)).toBeGreaterThan(0);
  });
});
