import { env } from "cloudflare:workers";
import { Deadline } from "../../lib/async/timers";
import { parseConfig } from "../../lib/base/config";
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
