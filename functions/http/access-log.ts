import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { createLogger, type LogFields } from "../../lib/base/log";
import { isInProcessUrl } from "../../lib/batch/in-process";
import { STEP_OUTCOMES } from "../../lib/batch/outcome";
import type { StepCounts } from "../../lib/batch/scheduler";
import type { AppEnv } from "./env";
import { matchedRoute } from "./guard";

/**
 * One structured line per request at `info`, the JSON object Workers Logs and Logpush index:
 * `{"level":"info","message":"request","time":...,"requestId":...,"method":"POST","route":"/v1/batch",
 * "status":200,"durationMs":312,"keyId":"web","steps":{"ok":5,"failed":0,"skipped":0,"cancelled":0}}`.
 * The route is the matched pattern (`/v1/sim/delay/:ms`), never the path with its ids; no bodies, no
 * headers other than `cache-status`, no secrets (the key's id, never the key). Errors keep their own
 * line (onError); in-process `/v1/sim/` calls made by a batch's steps are part of that request and
 * get no line of their own.
 *
 * A streamed answer (NDJSON, SSE) says `streamed: true`; its status is the one sent with the headers.
 * A streamed batch's line waits for the batch (ctx.waitUntil), so its duration and step counts are
 * the whole batch's; any other stream's line is written when the response starts, with the time to it.
 */
export const accessLog = createMiddleware<AppEnv>(async (c, next) => {
  if (isInProcessUrl(c.req.url)) return next();
  const started = Date.now();
  await next();
  const fields: LogFields = {
    method: c.req.method,
    ...routeOf(c),
    status: c.res.status,
  };
  const cacheStatus = c.res.headers.get("cache-status");
  if (cacheStatus) fields.cacheStatus = cacheStatus;
  if (isStream(c.res)) fields.streamed = true;
  const write = (counts: StepCounts | undefined) => {
    // The request's logger, or (when the configuration itself is invalid) one of our own.
    const logger = c.var.logger ?? createLogger("info", { requestId: c.var.requestId });
    logger.log("info", "request", {
      ...fields,
      durationMs: Date.now() - started,
      ...(c.var.apiKeyId ? { keyId: c.var.apiKeyId } : {}),
      // The four counts only, whatever else the object holds.
      ...(counts ? { steps: Object.fromEntries(STEP_OUTCOMES.map((outcome) => [outcome, counts[outcome]])) } : {}),
    });
  };
  const counts = c.var.batchCounts;
  if (!(counts instanceof Promise)) return write(counts);
  const later = counts.then(write, () => write(undefined));
  try {
    c.executionCtx.waitUntil(later);
  } catch {
    // no execution context (app.request in a test): the line is written when the batch ends all the same
  }
});

/** The matched route's pattern. */
function routeOf(c: Context<AppEnv>): { route?: string } {
  const route = matchedRoute(c);
  return route ? { route: route.path } : {};
}

function isStream(response: Response): boolean {
  const type = response.headers.get("content-type") ?? "";
  return type.startsWith("application/x-ndjson") || type.startsWith("text/event-stream");
}
