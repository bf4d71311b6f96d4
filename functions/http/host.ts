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

/** Up to this many steps, `Server-Timing` has an entry per step; a larger batch gets one summary entry. */
export const STEP_TIMINGS_MAX = 10;

/**
 * `Server-Timing` for the steps: one entry per step (`step-<id>`, its duration, `ok 200` or its
 * error code), so browser dev tools show the fan-out; for a batch of more than STEP_TIMINGS_MAX
 * steps one `steps` entry (the slowest step's duration, naming it and the count), as a header of a
 * hundred entries costs every request and no dev tool shows it usefully. The answer has them all.
 */
export function setStepTimings(c: Context<AppEnv>, results: Record<string, StepResult>): void {
  const ids = Object.keys(results);
  if (ids.length > STEP_TIMINGS_MAX) {
    let slowest = ids[0]!;
    for (const id of ids) if (results[id]!.durationMs > results[slowest]!.durationMs) slowest = id;
    setMetric(c, "steps", results[slowest]!.durationMs, `${ids.length} steps, slowest ${slowest}`);
    return;
  }
  for (const id of ids) {
    const result = results[id]!;
    setMetric(c, `step-${id}`, result.durationMs, result.ok ? `ok ${result.status ?? ""}`.trim() : (result.error?.code ?? "failed"));
  }
}
