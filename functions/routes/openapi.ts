import type { OpenAPIHono } from "@hono/zod-openapi";
import { etagOf, matchesIfNoneMatch } from "../../lib/base/http";
import pkg from "../../package.json";
import { type RouteRule, routeKey } from "../http/access";
import type { AppEnv } from "../http/env";
import { requestDefaultsInWords } from "./openapi-defaults";

/**
 * GET /openapi.json: the document generated from the routes' zod schemas, built once per isolate (it is
 * pure data) and served with a strong ETag (304 on If-None-Match).
 */

/** Every operation's tag, in the order a reader meets them. */
export const TAGS = [
  { name: "health", description: "Liveness and enabled features" },
  { name: "batch", description: "POST /v1/batch: many I/O steps, one request" },
  { name: "jobs", description: "Async batches (202) and their results" },
  { name: "composites", description: "Named GET endpoints declared in functions/composites.jsonc" },
  { name: "audit", description: "The audit log (admin keys)" },
  { name: "sim", description: "Simulated upstreams for the quickstart, tests and benchmarks" },
  { name: "examples", description: "The async-I/O lesson as working endpoints" },
] as const;

export type Tag = (typeof TAGS)[number]["name"];

/** Headers every answer carries (the requestId and timing middleware of functions/index.ts). */
const EVERY_RESPONSE_HEADERS = {
  "x-request-id": {
    description: "This request's id, also in problem bodies and logs (the caller's X-Request-Id when it sent a valid one)",
    schema: { type: "string" as const },
  },
  "Server-Timing": {
    description: "The total and, for batches and composites, one `step-<id>;dur=<ms>;desc=<outcome>` entry per step",
    schema: { type: "string" as const },
  },
};

type Document = ReturnType<OpenAPIHono<AppEnv>["getOpenAPI31Document"]>;

/** Declares the headers that every answer carries on every response of every operation. */
function withEveryResponseHeader(document: Document): Document {
  for (const item of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(item)) {
      if (!operation || typeof operation !== "object" || !("responses" in operation)) continue;
      const responses = (operation.responses ?? {}) as Record<string, { $ref?: string; headers?: Record<string, unknown> }>;
      for (const response of Object.values(responses)) {
        if (response.$ref) continue;
        response.headers = {
          ...response.headers,
          ...Object.fromEntries(Object.keys(EVERY_RESPONSE_HEADERS).map((name) => [name, { $ref: `#/components/headers/${name}` }])),
        };
      }
    }
  }
  return document;
}

/** `/v1/jobs/{id}` as the router writes it: `/v1/jobs/:id`. */
const routerPath = (path: string) => path.replace(/\{([^}]+)\}/g, ":$1");

const METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);

/**
 * Each operation's `security` from the route table (public: none; otherwise the bearer key), and the
 * demo operations left out while the demo is off: the document describes the routes that exist.
 */
function withAccessRules(document: Document, table: ReadonlyMap<string, RouteRule>, demo: boolean): Document {
  const paths = (document.paths ?? {}) as Record<string, Record<string, { security?: unknown; tags?: string[] }>>;
  const usedTags = new Set<string>();
  for (const [path, item] of Object.entries(paths)) {
    for (const method of Object.keys(item).filter((name) => METHODS.has(name))) {
      const key = routeKey(method, routerPath(path));
      const rule = table.get(key);
      if (rule === undefined) throw new Error(`${key} has no access rule in functions/http/access.ts`);
      if (rule.demo && !demo) {
        delete item[method];
        continue;
      }
      item[method]!.security = rule.access === "public" ? [] : [{ bearer: [] }];
      for (const tag of item[method]!.tags ?? []) usedTags.add(tag);
    }
    if (!Object.keys(item).some((name) => METHODS.has(name))) delete paths[path];
  }
  document.tags = document.tags?.filter((tag) => usedTags.has(tag.name));
  return document;
}

export function buildDocument(app: OpenAPIHono<AppEnv>, table: ReadonlyMap<string, RouteRule>, { demo }: { demo: boolean }): Document {
  const document = withEveryResponseHeader(
    app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "fanout",
        version: pkg.version,
        description: "Edge fan-out gateway: one HTTPS call in, many concurrent I/O operations behind it.",
      },
      servers: [
        {
          url: "{origin}",
          description: "Where fanout runs: its Workers origin, or npm start's",
          variables: { origin: { default: "http://127.0.0.1:8787", description: "scheme://host[:port], no trailing slash" } },
        },
      ],
      tags: TAGS.map((tag) => ({ ...tag })),
    }),
  );
  return requestDefaultsInWords(withAccessRules(document, table, demo));
}

/** Registers the shared components and GET /openapi.json on the composed app (after every route group). */
export function serveOpenApi(app: OpenAPIHono<AppEnv>, table: ReadonlyMap<string, RouteRule>): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "An API key from API_KEYS",
  });
  for (const [name, header] of Object.entries(EVERY_RESPONSE_HEADERS)) app.openAPIRegistry.registerComponent("headers", name, header);

  // Per isolate: the routes do not change after start, so neither do the two documents (demo on, demo off).
  const built = new Map<boolean, { body: string; etag: string }>();
  app.get("/openapi.json", async (c) => {
    const demo = c.var.config.DEMO_ENABLED;
    let document = built.get(demo);
    if (!document) {
      const body = JSON.stringify(buildDocument(app, table, { demo }));
      document = { body, etag: await etagOf(body) };
      built.set(demo, document);
    }
    const headers = { etag: document.etag, "cache-control": "no-cache" };
    if (matchesIfNoneMatch(c.req.header("if-none-match"), document.etag)) return c.body(null, 304, headers);
    return c.body(document.body, 200, { ...headers, "content-type": "application/json; charset=utf-8" });
  });
}
