import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "./env";

/**
 * CORS for browsers on other origins, with Hono's own `cors` middleware. Only origins listed in
 * CORS_ORIGINS get CORS headers; everything else (no Origin, a disallowed origin, nothing
 * configured) gets none at all, so a browser refuses to share the answer. A preflight is answered
 * here, before routing, authentication and the 405 check: 204 with the CORS headers for an allowed
 * origin, a bare 204 otherwise.
 */

/** Request headers a page may send (besides the CORS-safelisted ones). */
export const CORS_ALLOW_HEADERS = [
  "authorization",
  "content-type",
  "accept",
  "idempotency-key",
  "prefer",
  "if-none-match",
  "traceparent",
] as const;

/** Response headers a page may read (besides the CORS-safelisted ones). */
export const CORS_EXPOSE_HEADERS = [
  "x-request-id",
  "server-timing",
  "cache-status",
  "fanout-incomplete",
  "fanout-fallback",
  "etag",
  "age",
  "retry-after",
  "location",
] as const;

export const CORS_ALLOW_METHODS = ["GET", "HEAD", "POST"] as const;

/** How long a browser may reuse a preflight's answer. */
export const CORS_MAX_AGE_SECONDS = 600;

export interface CrossOriginOptions {
  /** More request headers a page may send (e.g. those a composite reads), added to CORS_ALLOW_HEADERS. */
  allowHeaders?: readonly string[];
  /** More response headers a page may read (e.g. those a composite forwards), added to CORS_EXPOSE_HEADERS. */
  exposeHeaders?: readonly string[];
}

function isPreflight(request: Request): boolean {
  return request.method === "OPTIONS" && request.headers.has("origin") && request.headers.has("access-control-request-method");
}

/** The CORS middleware for `/v1/*`, from CORS_ORIGINS and CORS_CREDENTIALS (c.var.config: the config middleware runs first). */
export function crossOrigin(options: CrossOriginOptions = {}) {
  const allowHeaders = [...new Set([...CORS_ALLOW_HEADERS, ...(options.allowHeaders ?? []).map((name) => name.toLowerCase())])];
  const exposeHeaders = [...new Set([...CORS_EXPOSE_HEADERS, ...(options.exposeHeaders ?? []).map((name) => name.toLowerCase())])];
  return createMiddleware<AppEnv>(async (c, next) => {
    const { config } = c.var;
    const allowed = config.CORS_ORIGINS;
    const anyOrigin = allowed[0] === "*";
    const origin = c.req.header("origin");
    if (origin === undefined || !(anyOrigin || allowed.includes(origin))) {
      // The answer differs by Origin whenever some origin is allowed: caches must keep the variants apart.
      const vary = allowed.length > 0 && !anyOrigin ? { vary: "Origin" } : undefined;
      if (isPreflight(c.req.raw)) return c.body(null, 204, vary);
      await next();
      if (vary) c.header("vary", "Origin", { append: true });
      return;
    }
    return cors({
      origin: anyOrigin ? "*" : origin,
      allowMethods: [...CORS_ALLOW_METHODS],
      allowHeaders,
      exposeHeaders,
      maxAge: CORS_MAX_AGE_SECONDS,
      credentials: config.CORS_CREDENTIALS,
    })(c, next);
  });
}
