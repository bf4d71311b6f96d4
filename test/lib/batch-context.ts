import { env } from "cloudflare:workers";
import { Budget } from "../../lib/budget";
import { Singleflight } from "../../lib/singleflight";
import type { BatchContext } from "../../lib/steps/context";
import { KvReader } from "../../lib/steps/kv";
import type { StepOutput } from "../../lib/steps/types";
import { Deadline } from "../../lib/timers";
import { continueTrace } from "../../lib/trace";
import { parseAllowList } from "../../lib/policy";

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
