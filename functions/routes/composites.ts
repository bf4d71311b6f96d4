import { createRoute, z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { describeInvalid, FanoutError, type InvalidParam } from "../../lib/base/errors";
import { HEADER_VALUE, matchesIfNoneMatch } from "../../lib/base/http";
import { publicResult } from "../../lib/batch/service";
import { cacheKeyUrl, varyOf, versionOf } from "../../lib/composite/cache";
import type { CompositeCatalog } from "../../lib/composite/catalog";
import type { CompositeDefinition, CompositeInputs, ParamValue } from "../../lib/composite/definition";
import { documentSchemaOf } from "../../lib/composite/document-schema";
import { paramSchema } from "../../lib/composite/params";
import { planComposite, runComposite, serveComposite } from "../../lib/composite/serve";
import type { CatalogSource } from "../../lib/composite/source";
import { requireApiKey } from "../http/auth";
import type { AppEnv, AppFetch } from "../http/env";
import { batchHostOf, setStepTimings } from "../http/host";
import { PROBLEM_CONTENT_TYPE, problemResponses, toProblem } from "../http/problem";
import { rateLimit } from "../http/rate-limit";
import { createRouter, untypedResponse, waitUntilOf } from "../http/router";
import { answerHeadersOf } from "./composite-headers";

/**
 * GET <prefix><path>: the composites of functions/composites.jsonc, each its own route and OpenAPI
 * operation. A request is authenticated (or public), rate limited, its params and allowed headers
 * validated, then answered from the edge cache or by running the composite's batch. A composite that
 * is broken or does not fit the configuration answers 503 `not_configured` naming where it is in the
 * file; an admin's `?debug=1` shows why.
 */

const MAX_HEADER_CHARS = 1024;

/** `users/:id` as OpenAPI writes it (`users/{id}`); the router turns it back into `:id`. */
const openApiPath = (prefix: string, path: string) => `${prefix}${path}`.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

/** The catalog the routes serve; `source` when it was read from the composites file (then problems are placed in it). */
export type ServedCatalog = CompositeCatalog & { source?: CatalogSource };

/**
 * A composite that cannot be served (`how`: "is invalid in", "does not fit this configuration"): the
 * client is told where it is in the file (`functions/composites.jsonc:14:9`), the log and an admin's
 * `?debug=1` each problem, named as `npm run check` names it, with its position.
 */
function notConfigured(catalog: ServedCatalog, name: string, problems: InvalidParam[], how: string, cause?: unknown): FanoutError {
  const located = problems.map((problem) => {
    const at = catalog.source?.locate(name, problem.name);
    return {
      name: `composites.${name}${problem.name ? `.${problem.name}` : ""}`,
      reason: at ? `${problem.reason} (${at})` : problem.reason,
    };
  });
  const file = catalog.source?.file ?? "the composites file";
  const first = problems[0] && catalog.source?.locate(name, problems[0].name);
  return new FanoutError("not_configured", `composite "${name}" ${how} ${file}: ${describeInvalid(located)}`, {
    cause,
    invalidParams: located,
    safeDetail: `the composite "${name}" is not configured correctly${first ? ` (${first})` : ""}`,
  });
}

/** An admin's `?debug=1` on a composite that cannot be served: the 503 problem unredacted (detail and every problem), never cached. */
function debugProblem(c: Context<AppEnv>, error: FanoutError): Response {
  const problem = {
    ...toProblem(error, new URL(c.req.url).pathname, c.var.requestId),
    detail: error.detail,
    invalidParams: error.invalidParams,
  };
  return c.body(JSON.stringify(problem), 503, { "content-type": PROBLEM_CONTENT_TYPE, "cache-control": "no-store" });
}

/** Plans the composite against the configuration; a misfit is 503 naming where the composite is in the file. */
function planOrRefuse(catalog: ServedCatalog, definition: CompositeDefinition, c: Context<AppEnv>) {
  try {
    return planComposite(definition, c.var.config);
  } catch (error) {
    if (!(error instanceof FanoutError) || error.code !== "not_configured") throw error;
    const cause = error.cause instanceof Error ? error.cause.message : error.detail;
    const problems = error.invalidParams.length > 0 ? error.invalidParams : [{ name: "", reason: cause }];
    throw notConfigured(catalog, definition.name, problems, "does not fit this configuration in", error);
  }
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

/** `?debug=1` needs an admin key on any composite, a public one included (and on one that cannot be served). */
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

/**
 * The composite's own middleware. Its access (public or API key) is applied before it, from
 * functions/http/access.ts.
 */
function middlewareOf(definition: CompositeDefinition): MiddlewareHandler<AppEnv>[] {
  return [debugNeedsAdmin, rateLimit(definition.auth === "apiKey" ? "apiKey" : "clientIp")];
}

/** The statuses a composite's own rules may answer (`notFoundWhen`: 404; `passStatus`: those listed), each documented. */
function statusResponses(definition: CompositeDefinition) {
  const statuses = new Set<number>(definition.steps.flatMap((step) => [...(step.notFoundWhen ? [404] : []), ...(step.passStatus ?? [])]));
  const described = problemResponses(...[...statuses].sort());
  for (const [status, response] of Object.entries(described)) {
    response.description =
      status === "404"
        ? "Nothing found: a required step's result was empty (notFoundWhen; invalidParams names the params it read) or its upstream answered 404 (passStatus)." +
          (definition.cache?.negativeTtlSeconds
            ? ` Cached for ${definition.cache.negativeTtlSeconds} s (negativeTtlSeconds).`
            : " Never cached.")
        : `A required step's upstream answered ${status} (passStatus); the detail is fanout's, never the upstream's body. Never cached.`;
  }
  return described;
}

function register(routes: ReturnType<typeof createRouter>, catalog: ServedCatalog, definition: CompositeDefinition, appFetch: AppFetch) {
  const prefix = catalog.prefix;
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
        headers: answerHeadersOf(definition),
        content: { "application/json": { schema: z.unknown().openapi(documentSchemaOf(definition)) } },
      },
      304: { description: "Not modified (If-None-Match matched the ETag)" },
      ...problemResponses(400, ...(definition.auth === "apiKey" ? [401] : []), 403, 429, 502, 503, 504),
      ...statusResponses(definition),
    },
  });

  routes.openapi(route, async (c) => {
    const params = { ...c.req.valid("param"), ...c.req.valid("query") } as Record<string, ParamValue>;
    const query = Object.fromEntries(Object.entries(params).filter(([name]) => definition.params[name]?.in === "query")) as Record<
      string,
      ParamValue
    >;
    const inputs: CompositeInputs = { params, query, headers: allowedHeaders(c, definition.headers) };
    let plan: ReturnType<typeof planComposite>;
    try {
      plan = planOrRefuse(catalog, definition, c);
    } catch (error) {
      if (wantsDebug(c) && error instanceof FanoutError) return untypedResponse(debugProblem(c, error));
      throw error;
    }
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
    // The answer, a problem included, differs by each header its steps read: caches must keep the variants apart.
    const vary = varyOf(definition);
    const varying: Record<string, string> = vary.length > 0 ? { vary: vary.join(", ") } : {};
    const answer = await serveComposite(definition, {
      plan,
      inputs,
      host,
      ...(cache ? { cache } : {}),
      waitUntil: waitUntilOf(c),
      logger: c.var.logger,
      requestId: c.var.requestId,
    }).catch((error: unknown) => {
      if (error instanceof FanoutError) Object.assign(error.headers, varying);
      throw error;
    });
    if (answer.steps) setStepTimings(c, answer.steps);

    const headers: Record<string, string> = { etag: answer.etag, "cache-control": answer.cacheControl, ...varying };
    if (answer.cacheStatus) headers["cache-status"] = answer.cacheStatus;
    if (answer.ageSeconds !== undefined) headers.age = String(answer.ageSeconds);
    if (answer.incomplete.length > 0) headers["fanout-incomplete"] = answer.incomplete.join(",");
    if (answer.fallback.length > 0) headers["fanout-fallback"] = answer.fallback.join(",");
    Object.assign(headers, answer.forwarded);
    if (matchesIfNoneMatch(c.req.header("if-none-match"), answer.etag)) return untypedResponse(c.body(null, 304, headers));
    return untypedResponse(c.body(answer.body, 200, { ...headers, "content-type": "application/json" }));
  });
}

/** The composites' routes: valid ones served, broken ones answering 503 `not_configured` naming the composite and its position. */
export function createCompositeRoutes(catalog: ServedCatalog, appFetch: AppFetch) {
  const routes = createRouter();
  for (const definition of catalog.composites) register(routes, catalog, definition, appFetch);
  for (const broken of catalog.broken) {
    if (broken.path === undefined) continue;
    routes.get(`${catalog.prefix}${broken.path}`, debugNeedsAdmin, (c) => {
      const error = notConfigured(catalog, broken.name, broken.problems, "is invalid in");
      if (wantsDebug(c)) return debugProblem(c, error);
      throw error;
    });
  }
  return routes;
}

/**
 * When the composites file does not load at all (a syntax error, an invalid top level) there is no
 * composite route: a request under the prefix that no other route serves answers this, 503
 * `not_configured` naming the file and the position of its first error (an admin's `?debug=1`: every
 * error and its reason). Undefined when the file loaded.
 */
export function unloadedComposites(catalog: ServedCatalog): ((c: Context<AppEnv>) => Promise<Response>) | undefined {
  const source = catalog.source;
  if (source === undefined || source.errors.length === 0) return undefined;
  const problems = source.errors.map((error) => ({ name: error.field || "(file)", reason: `${error.reason} (${error.at})` }));
  const refusal = () =>
    new FanoutError("not_configured", `no composite is served: ${source.file} does not load: ${describeInvalid(problems)}`, {
      invalidParams: problems,
      safeDetail: `no composite is served: ${source.file} does not load (${source.errors[0]!.at})`,
    });
  return async (c) => {
    if (!wantsDebug(c)) throw refusal();
    let answer: Response | undefined;
    await debugNeedsAdmin(c, async () => {
      answer = debugProblem(c, refusal());
    });
    return answer!;
  };
}
