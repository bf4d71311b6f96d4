import { env } from "cloudflare:workers";
import { Budget } from "../../lib/async/budget";
import { Singleflight } from "../../lib/async/singleflight";
import type { BatchContext } from "../../lib/batch/steps/context";
import { KvReader } from "../../lib/batch/steps/kv";
import type { StepOutput } from "../../lib/batch/steps/types";
import { Deadline } from "../../lib/async/timers";
import { continueTrace } from "../../lib/base/trace";
import { parseAllowList } from "../../lib/base/policy";

/** A BatchContext over the test bindings, with generous limits unless a test narrows them. */
export function batchContext(overrides: Partial<BatchContext> & { deadlineMs?: number; signal?: AbortSignal } = {}): BatchContext {
  const { deadlineMs = 10_000, signal, ...rest } = overrides;
  return {
    deadline: Deadline.after(deadlineMs, { signal }),
    bindings: { kv: env.KV, bucket: env.BUCKET, db: env.DB, cache: caches.default },
    allowList: parseAllowList(`http://127.0.0.1:${env.UPSTREAM_PORT}`),
    fetcher: (request) => fetch(request),
    inProcessOrigin: "http://fanout.internal",
    credentials: {},
    kvPrefixes: ["test:"],
    r2Prefixes: ["test/"],
    d1Queries: {},
    defaultTimeoutMs: 5_000,
    maxStepResponseBytes: 1024 * 1024,
    budgets: { responseBytes: new Budget(8 * 1024 * 1024), retries: new Budget(10), subrequests: new Budget(1000) },
    coalesce: { http: new Singleflight<StepOutput>(), kv: new KvReader(env.KV) },
    trace: continueTrace(undefined),
    ...rest,
  };
}
