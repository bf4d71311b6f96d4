import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { matchedRoutes } from "hono/route";
import { FanoutError } from "../../lib/base/errors";
import { type RouteRule, routeKey } from "./access";
import { requireApiKey } from "./auth";
import type { AppEnv } from "./env";

/** Applies the route table of functions/http/access.ts to every request. */

/** The answer for a path no route serves; a demo route while the demo is off gets exactly this too. */
export function noRoute(c: Context): FanoutError {
  return new FanoutError("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`);
}

/** The route this request matched: the last matched handler that is not a middleware (`use` registers method ALL). */
export function matchedRoute(c: Context): { method: string; path: string } | undefined {
  return matchedRoutes(c).findLast((candidate) => candidate.method !== "ALL");
}

/**
 * Middleware: applies the table to every request before its route runs. A demo route with the demo
 * off does not exist (404); a route missing from the table is refused, never served open.
 */
export function guardRoutes(table: ReadonlyMap<string, RouteRule>) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const route = matchedRoute(c);
    // No route: notFound or methodNotAllowed answers.
    if (route === undefined) return next();
    const key = routeKey(route.method, route.path);
    const rule = table.get(key);
    if (rule === undefined) throw new FanoutError("internal", `${key} has no access rule in functions/http/access.ts`);
    if (rule.demo && !c.var.config.DEMO_ENABLED) throw noRoute(c);
    if (rule.access === "public") return next();
    return requireApiKey(c, async () => {
      if (rule.access === "admin" && !c.var.config.ADMIN_KEY_IDS.includes(c.var.apiKeyId!)) {
        throw new FanoutError("forbidden", `${key} needs an admin API key (ADMIN_KEY_IDS)`);
      }
      await next();
    });
  });
}
