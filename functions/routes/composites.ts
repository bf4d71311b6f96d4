import { createRoute, z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { describeInvalid, FanoutError } from "../../lib/base/errors";
import { HEADER_VALUE, matchesIfNoneMatch } from "../../lib/base/http";
import { publicResult } from "../../lib/batch/service";
import { cacheKeyUrl, versionOf } from "../../lib/composite/cache";
import type { CompositeCatalog } from "../../lib/composite/catalog";
import type { CompositeDefinition, CompositeInputs, ParamValue } from "../../lib/composite/definition";
import { paramSchema } from "../../lib/composite/params";
import { planComposite, runComposite, serveComposite } from "../../lib/composite/serve";
import { requireApiKey } from "../http/auth";
import type { AppEnv, AppFetch } from "../http/env";
import { batchHostOf, setStepTimings } from "../http/host";
import { problemResponses } from "../http/problem";
import { rateLimit } from "../http/rate-limit";
import { createRouter, untypedResponse, waitUntilOf } from "../http/router";

/**
 * GET <prefix><path>: the composites of functions/composites.json, each its own route and OpenAPI
 * operation. A request is authenticated (or public), rate limited, its params and allowed headers
 * validated, then answered from the edge cache or by running the composite's batch.
 */

const MAX_HEADER_CHARS = 1024;

/** `users/:id` as OpenAPI writes it (`users/{id}`); the router turns it back into `:id`. */
const openApiPath = (prefix: string, path: string) => `${prefix}${path}`.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

function notConfigured(name: string, reasons: string): FanoutError {
  return new FanoutError("not_configured", `composite "${name}" is invalid in functions/composites.json: ${reasons}`, {
    safeDetail: `the composite "${name}" is not configured correctly`,
  });
}

/** Only the declared headers are read; every value is printable ASCII of bounded length, an absent one reads as "". */
function allowedHeaders(c: Context<AppEnv>, names: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = c.req.header(name) ?? "";
    if (value.length > MAX_HEADER_CHARS || !HEADER_VALUE.test(value)) {
      const reason = `at most ${MAX_HEADER_CHARS} printable ASCII characters`;
      throw new FanoutError("validation_failed", `header ${name}: ${reason}`, { invalidParams: [{ name: `header ${name}`, reason }] });
    }
    headers[name] = value;
  }
  return headers;
}

/** `?debug=1` shows the per-step envelope: admin keys only, on any composite. */
const wantsDebug = (c: Context<AppEnv>) => c.req.query("debug") !== undefined;

/**
 * The composite's own middleware. Its access (public or API key) is applied before it, from
 * functions/http/access.ts; `?debug=1` needs an admin key on any composite, a public one included.
 */
function middlewareOf(definition: CompositeDefinition): MiddlewareHandler<AppEnv>[] {
  const debugNeedsAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (!wantsDebug(c)) return next();
    const checkAdmin = async () => {
      if (!c.var.config.ADMIN_KEY_IDS.includes(c.var.apiKeyId ?? "")) {
        throw new FanoutError("forbidden", "debug=1 needs an admin API key (ADMIN_KEY_IDS)", {
          invalidParams: [{ name: "debug", reason: "admin API keys only" }],
        });
      }
      await next();
    };
    return c.var.apiKeyId === undefined ? requireApiKey(c, checkAdmin) : checkAdmin();
  };
  return [debugNeedsAdmin, rateLimit(definition.auth === "apiKey" ? "apiKey" : "clientIp")];
}

const ANSWER_HEADERS = {
  ETag: { description: "A strong validator of the document; send it back as If-None-Match for a 304", schema: { type: "string" as const } },
  "Cache-Control": { description: "The composite's cache policy (no-store for a partial answer)", schema: { type: "string" as const } },
  "Cache-Status": {
    description: "RFC 9211: hit (with ttl; stale within the SWR window) or fwd=uri-miss",
    schema: { type: "string" as const },
  },
  "fanout-incomplete": { description: "Optional steps left out of the document, comma-separated", schema: { type: "string" as const } },
};

function register(routes: ReturnType<typeof createRouter>, prefix: string, definition: CompositeDefinition, appFetch: AppFetch) {
  const pathParams: Record<string, z.ZodType> = {};
  const queryParams: Record<string, z.ZodType> = {};
  for (const [name, spec] of Object.entries(definition.params)) {
    const schema = paramSchema(name, spec).openapi({ param: { name, in: spec.in } });
    if (spec.in === "path") pathParams[name] = schema;
    else queryParams[name] = schema;
  }
  const route = createRoute({
    method: "get",
    path: openApiPath(prefix, definition.path),
    operationId: `composite_${definition.name}`,
    tags: ["composites"],
    summary: definition.summary ?? `The ${definition.name} composite`,
    ...(definition.description ? { description: definition.description } : {}),
    middleware: middlewareOf(definition),
    request: { params: z.object(pathParams), query: z.object(queryParams) },
    responses: {
      200: {
        description: "The composite's document",
        headers: ANSWER_HEADERS,
        content: { "application/json": { schema: z.record(z.string(), z.unknown()) } },
      },
      304: { description: "Not modified (If-None-Match matched the ETag)" },
      ...problemResponses(400, ...(definition.auth === "apiKey" ? [401] : []), 403, 429, 502, 503, 504),
    },
  });

  routes.openapi(route, async (c) => {
    const params = { ...c.req.valid("param"), ...c.req.valid("query") } as Record<string, ParamValue>;
    const query = Object.fromEntries(Object.entries(params).filter(([name]) => definition.params[name]?.in === "query")) as Record<
      string,
      ParamValue
    >;
    const inputs: CompositeInputs = { params, query, headers: allowedHeaders(c, definition.headers) };
    const plan = planComposite(definition, c.var.config);
    // A client disconnect aborts the composite's batch.
    const host = batchHostOf(c, appFetch, c.req.raw.signal);

    if (wantsDebug(c)) {
      const { outcome, shaped } = await runComposite(definition, plan, inputs, host);
      const answer =
        shaped instanceof FanoutError ? { error: { code: shaped.code, status: shaped.status, detail: shaped.detail } } : shaped;
      return c.json({ composite: definition.name, inputs, ...answer, ...publicResult(outcome) }, 200, { "cache-control": "no-store" });
    }

    const policy = definition.cache;
    const cache = policy && {
      cache: caches.default,
      policy,
      key: cacheKeyUrl({
        origin: new URL(c.req.url).origin,
        composite: definition.name,
        version: await versionOf(definition),
        inputs,
        vary: policy.vary,
        ...(policy.perApiKey ? { keyId: c.var.apiKeyId } : {}),
      }),
    };
    const answer = await serveComposite(definition, {
      plan,
      inputs,
      host,
      ...(cache ? { cache } : {}),
      waitUntil: waitUntilOf(c),
      logger: c.var.logger,
      requestId: c.var.requestId,
    });
    if (answer.steps) setStepTimings(c, answer.steps);

    const headers: Record<string, string> = { etag: answer.etag, "cache-control": answer.cacheControl };
    if (answer.cacheStatus) headers["cache-status"] = answer.cacheStatus;
    if (answer.ageSeconds !== undefined) headers.age = String(answer.ageSeconds);
    if (answer.incomplete.length > 0) headers["fanout-incomplete"] = answer.incomplete.join(",");
    if (matchesIfNoneMatch(c.req.header("if-none-match"), answer.etag)) return untypedResponse(c.body(null, 304, headers));
    return untypedResponse(c.body(answer.body, 200, { ...headers, "content-type": "application/json" }));
  });
}

/** The composites' routes: valid ones served, broken ones answering 503 `not_configured` naming the composite. */
export function createCompositeRoutes(catalog: CompositeCatalog, appFetch: AppFetch) {
  const routes = createRouter();
  for (const definition of catalog.composites) register(routes, catalog.prefix, definition, appFetch);
  for (const broken of catalog.broken) {
    if (broken.path === undefined) continue;
    routes.get(`${catalog.prefix}${broken.path}`, () => {
      throw notConfigured(broken.name, describeInvalid(broken.problems));
    });
  }
  return routes;
}
