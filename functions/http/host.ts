import type { Context } from "hono";
import { setMetric } from "hono/timing";
import type { StepResult } from "../../lib/batch/scheduler";
import { type BatchHost, batchBindings } from "../../lib/batch/service";
import type { AppEnv, AppFetch } from "./env";

/** What a route that runs a batch (/v1/batch, composites) hands lib/ from its request, and how it reports the steps. */

/** The gateway's own fetch for this request's in-process `/v1/sim/` calls. */
export function serveInProcessOf(c: Context<AppEnv>, appFetch: AppFetch) {
  return (request: Request) => appFetch(request, c.env, c.executionCtx);
}

/** The batch host of a request: its bindings, configuration, in-process fetch and trace; `signal` aborts the batch. */
export function batchHostOf(c: Context<AppEnv>, appFetch: AppFetch, signal?: AbortSignal): BatchHost {
  return {
    bindings: batchBindings(c.env),
    config: c.var.config,
    serveInProcess: serveInProcessOf(c, appFetch),
    traceparent: c.req.header("traceparent"),
    signal,
  };
}

/** One `Server-Timing` entry per step (`step-<id>`, its duration, `ok 200` or its error code): browser dev tools show the fan-out. */
export function setStepTimings(c: Context<AppEnv>, results: Record<string, StepResult>): void {
  for (const [id, result] of Object.entries(results)) {
    setMetric(c, `step-${id}`, result.durationMs, result.ok ? `ok ${result.status ?? ""}`.trim() : (result.error?.code ?? "failed"));
  }
}
