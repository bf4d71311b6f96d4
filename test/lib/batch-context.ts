import { env } from "cloudflare:workers";
import { Deadline, sleep } from "../../lib/async/timers";
import { parseConfig } from "../../lib/base/config";
import { FanoutError } from "../../lib/base/errors";
import type { Executor } from "../../lib/batch/scheduler";
import { batchBindings, createBatchContext } from "../../lib/batch/service";
import type { BatchContext } from "../../lib/batch/steps/context";

/**
 * A BatchContext over the test bindings, built by the same factory production uses, from a test
 * configuration with generous limits unless a test narrows them.
 */
export function batchContext(overrides: Partial<BatchContext> & { deadlineMs?: number; signal?: AbortSignal } = {}): BatchContext {
  const { deadlineMs = 10_000, signal, ...rest } = overrides;
  const config = parseConfig({
    UPSTREAM_ALLOWLIST: `http://127.0.0.1:${env.UPSTREAM_PORT}`,
    DEMO_ENABLED: "false",
    KV_PREFIXES: "test:",
    R2_PREFIXES: "test/",
    DEFAULT_TIMEOUT_MS: "5000",
    // No isolate-wide breakers: a test that wants them passes its own `breakers`.
    BREAKER_ENABLED: "false",
  });
  const context = createBatchContext({
    config,
    bindings: batchBindings(env),
    serveInProcess: () => new Response(null, { status: 404 }),
    deadline: Deadline.after(deadlineMs, { signal }),
    // 50 planned calls give a retry allowance of 10.
    httpCalls: 50,
  });
  return { ...context, ...rest };
}

/** How a sleepingExecutor's step behaves, read from its spec: its name in the records, how long it sleeps, whether it then fails (`network`, `failure`), its body. */
export interface SleepingStep {
  name: string;
  ms: number;
  failure?: string;
  body: unknown;
}

/**
 * An executor whose steps sleep (on the step's signal, so an abort ends them) and then answer or fail
 * as `read` says, recording which started, which were aborted and the most in flight at once.
 */
export function sleepingExecutor(read: (spec: unknown) => SleepingStep) {
  const started: string[] = [];
  const aborted: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const execute: Executor = async (_kind, spec, { signal }) => {
    const { name, ms, failure, body } = read(spec);
    started.push(name);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    // A block body: an event listener that returns a value (push returns a number) makes workerd warn.
    const onAbort = () => {
      aborted.push(name);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await sleep(ms, { signal });
      if (failure !== undefined) throw new FanoutError("network", failure);
      return { ok: true, status: 200, body };
    } finally {
      inFlight--;
      signal.removeEventListener("abort", onAbort);
    }
  };
  return {
    execute,
    started,
    aborted,
    get maxInFlight() {
      return maxInFlight;
    },
  };
}
