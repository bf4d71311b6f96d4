import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { methodNotAllowed } from "hono/method-not-allowed";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import { timing } from "hono/timing";
import { configOf } from "../lib/base/config";
import { EXPECTED_FAILURE_CODES, FanoutError, isFanoutError } from "../lib/base/errors";
import { createLogger, describeError } from "../lib/base/log";
import { DEFAULT_PREFIX } from "../lib/composite/catalog";
import { loadCompositesFile, type SourcedCatalog } from "../lib/composite/source";
import { consumeAuditMessages } from "../lib/jobs/audit-consumer";
import { consumeJobMessages } from "../lib/jobs/consumer";
import compositesText from "./composites.jsonc";
import examples from "./demo/examples";
import sim from "./demo/sim";
import { routeKey, routeTable } from "./http/access";
import { accessLog } from "./http/access-log";
import { crossOrigin } from "./http/cors";
import type { AppEnv, AppFetch } from "./http/env";
import { guardRoutes, noRoute } from "./http/guard";
import { PROBLEM_CONTENT_TYPE, toProblem } from "./http/problem";
import { createRouter } from "./http/router";
import audit from "./routes/audit";
import { createBatchRoutes } from "./routes/batch";
import { createCompositeRoutes, type ServedCatalog, unloadedComposites } from "./routes/composites";
import docs from "./routes/docs";
import { createHealthRoutes } from "./routes/health";
import jobs from "./routes/jobs";
import { serveOpenApi } from "./routes/openapi";

/** The Worker entry and the one composition root: global middleware, error rendering, route groups. */

function problem(c: Context<AppEnv>, error: FanoutError): Response {
  const body = toProblem(error, new URL(c.req.url).pathname, c.var.requestId);
  return c.body(JSON.stringify(body), error.status as 400, { ...error.headers, "content-type": PROBLEM_CONTENT_TYPE });
}

/**
 * Builds the gateway: global middleware, error rendering and every route group, with the composites
 * of `catalog` (the Worker serves functions/composites.jsonc, read by `loadGateway`; tests pass their own).
 */
export function createApp(catalog: ServedCatalog) {
  const app = createRouter();
  // Relative /v1/sim/ step URLs (and composites' own) are answered by this same app, in-process.
  const appFetch: AppFetch = (request, env, ctx) => app.fetch(request, env, ctx);

  app.use(requestId());
  // One line per request, written once everything after it has answered (problems rendered by onError included).
  app.use(accessLog);
  // Configuration (parsed once per isolate) and the request's logger, for everything after this, CORS included.
  app.use(async (c, next) => {
    const config = configOf(c.env);
    c.set("config", config);
    c.set("logger", createLogger(config.LOG_LEVEL, { requestId: c.var.requestId }));
    await next();
  });
  app.use(secureHeaders());
  app.use(timing({ totalDescription: "fanout total" }));
  // Before methodNotAllowed and every route: a CORS preflight is answered before authentication.
  // Composites' declared headers are request headers a page may send too, and the headers they forward ones it may read.
  const cors = crossOrigin({
    allowHeaders: catalog.composites.flatMap((composite) => composite.headers),
    exposeHeaders: catalog.composites.flatMap((composite) => Object.keys(composite.forwardHeaders ?? {})),
  });
  app.use("/v1/*", cors);
  if (!catalog.prefix.startsWith("/v1/")) app.use(`${catalog.prefix}*`, cors);
  // Who may call what (functions/http/access.ts).
  const table = routeTable(catalog);
  // 405 with Allow for a path served under other methods; with the demo off, demo routes are not "other methods" (they do not exist).
  const allowedMethods = (demo: boolean) =>
    methodNotAllowed({
      // Read once, at the first 404 (by then every route is registered).
      app: {
        get routes() {
          return app.routes.filter((route) => demo || !table.get(routeKey(route.method, route.path))?.demo);
        },
      } as typeof app,
      onMethodNotAllowed: (c, methods) =>
        problem(
          c,
          new FanoutError("method_not_allowed", `${c.req.method} is not allowed here; use ${methods.join(", ")}`, {
            headers: { allow: methods.join(", ") },
          }),
        ),
    });
  const [withDemo, withoutDemo] = [allowedMethods(true), allowedMethods(false)];
  app.use((c, next) => (c.var.config.DEMO_ENABLED ? withDemo : withoutDemo)(c, next));
  // Before any route group's own middleware.
  app.use(guardRoutes(table));

  app.route("/", createHealthRoutes(catalog));
  app.route("/", docs);
  app.route("/v1/sim", sim);
  app.route("/v1/examples", examples);
  // Clients type these routes with fanout/client (functions/client/), built from the OpenAPI document.
  app.route("/v1/batch", createBatchRoutes(appFetch));
  app.route("/v1/jobs", jobs);
  app.route("/v1/audit", audit);
  app.route("/", createCompositeRoutes(catalog, appFetch));

  serveOpenApi(app, table);

  // A composites file that does not load leaves no composite route: its prefix answers 503 naming the file and position.
  const unloaded = unloadedComposites(catalog);
  app.notFound((c) => (unloaded && new URL(c.req.url).pathname.startsWith(catalog.prefix) ? unloaded(c) : problem(c, noRoute(c))));

  /** Hono's own middleware (bearer-auth, validators) throws HTTPExceptions; they become our problems too. */
  function fromHttpException(error: HTTPException): FanoutError {
    const challenge = error.res?.headers.get("www-authenticate");
    const headers: Record<string, string> = challenge ? { "www-authenticate": challenge } : {};
    switch (error.status) {
      case 401:
        return new FanoutError("unauthorized", "a valid API key is required: Authorization: Bearer <key>", { headers });
      case 400:
        return new FanoutError("validation_failed", error.message || "malformed request", {
          headers,
          invalidParams: [{ name: challenge ? "Authorization" : "body", reason: error.message || "malformed" }],
        });
      case 413:
        return new FanoutError("payload_too_large", "the request body is too large");
      case 415:
        return new FanoutError("unsupported_media_type", "send the body as JSON with Content-Type: application/json", {
          invalidParams: [{ name: "Content-Type", reason: "must be application/json" }],
        });
      default:
        if (error.status < 500) return new FanoutError("bad_request", error.message || "bad request", { status: error.status });
        return new FanoutError("internal", "internal error", { cause: error });
    }
  }

  app.onError((error, c) => {
    const fanoutError = isFanoutError(error)
      ? error
      : error instanceof HTTPException
        ? fromHttpException(error)
        : new FanoutError("internal", "internal error", { cause: error });
    if (fanoutError.status >= 500 && !EXPECTED_FAILURE_CODES.has(fanoutError.code)) {
      const logger = c.var.logger ?? createLogger("error", { requestId: c.var.requestId });
      logger.log("error", "request failed", {
        code: fanoutError.code,
        ...describeError(fanoutError.cause ?? error),
        detail: fanoutError.detail,
      });
    }
    return problem(c, fanoutError);
  });
  return { app, appFetch, table };
}

/** Where the Worker's composites come from, as every message names it. */
const COMPOSITES_FILE = "functions/composites.jsonc";

/**
 * The gateway of a composites file's text. The file is parsed here, never at build time: a mistake in
 * it yields a catalog that says where (its composites answer 503), and every other route is served.
 * Should building the routes of a catalog fail all the same, the gateway is built without composites
 * (`build` is createApp; a test passes one that fails).
 */
export function loadGateway(text: string, file = COMPOSITES_FILE, build = createApp) {
  const catalog: SourcedCatalog = loadCompositesFile(text, file);
  try {
    return build(catalog);
  } catch (error) {
    const reason = `the composites could not be served: ${error instanceof Error ? error.message : String(error)}`;
    const at = catalog.source.locate(undefined, "composites");
    return createApp({
      prefix: DEFAULT_PREFIX,
      composites: [],
      broken: [],
      source: { ...catalog.source, errors: [{ at, field: "composites", reason }] },
    });
  }
}

/** The Worker's gateway, built at the first request an isolate serves (the composites file read once, then kept). */
let gateway: ReturnType<typeof createApp> | undefined;
const gatewayOf = () => {
  gateway ??= loadGateway(compositesText);
  return gateway;
};

// Durable Object classes must be exported by the Worker entry.
export { IdempotencyKey } from "../lib/jobs/idempotency";
/**
 * Every route as types for hono/client's `hc<AppType>(origin)`, the composites' included: built from the
 * OpenAPI document, since a composite's route exists only once its file is read. Callers import it from `fanout/client`.
 */
export type { AppType } from "./client/index";

/** The queue wrangler.toml binds as AUDIT and consumes here. */
const AUDIT_QUEUE = "fanout-audit";

export default {
  // Typed as Hono's fetch is, so tests call it with any Request.
  fetch: (request: Request, env: Env, ctx: ExecutionContext) => gatewayOf().app.fetch(request, env, ctx),
  // fanout-audit: audit records, one D1 batch per queue batch; every other queue: async jobs and callback deliveries.
  queue: (batch, env, ctx) =>
    batch.queue === AUDIT_QUEUE
      ? consumeAuditMessages(batch, env)
      : consumeJobMessages(batch, env, (request) => gatewayOf().appFetch(request, env, ctx)),
} satisfies ExportedHandler<Env>;
