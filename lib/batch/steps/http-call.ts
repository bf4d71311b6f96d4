import type { CircuitBreakers } from "../../async/breaker";
import { hedge } from "../../async/hedge";
import { httpRetryPolicy, retry } from "../../async/retry";
import { abortable, withTimeout } from "../../async/timers";
import { FanoutError, isFanoutError, toFanoutError } from "../../base/errors";
import { fetchUpstream, HEADER_VALUE, readBodyLimited } from "../../base/http";
import { checkTarget } from "../../base/policy";
import { ATTEMPT_HEADER, absoluteUrl, isInProcessUrl } from "../in-process";
import { type BatchContext, type StepRun, stepReadLimits } from "./context";
import { decodeBody, visibleHeaders } from "./http-body";
import { type StepOutput, stepErrorOf } from "./output";

/** The http step's spec and what it uses of its batch (declared here, beside its executor; steps/http.ts declares the kind). */

export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface HttpSpec {
  url: string;
  method: HttpMethod;
  headers?: Record<string, string>;
  /** A string is sent as text; anything else as JSON. */
  body?: unknown;
  timeoutMs?: number;
  retry?: { attempts: number; baseDelayMs?: number; maxDelayMs?: number };
  hedge?: { afterMs: number };
  /** Keep only these dot paths of a JSON body. */
  pick?: string[];
  idempotencyKey?: string;
  maxRedirects: number;
}

/** What the http step uses of its batch. */
export type HttpDeps = Pick<
  BatchContext,
  | "deadline"
  | "fetcher"
  | "allowList"
  | "credentials"
  | "defaultTimeoutMs"
  | "maxStepResponseBytes"
  | "budgets"
  | "coalesce"
  | "breakers"
  | "trace"
>;

/** The http step's executor: allow-listed fetch with per-attempt timeout, retries, hedging, coalescing and limits (declared in http.ts). */

type HttpRun = StepRun<HttpDeps>;

interface Fetched {
  status: number;
  headers: Headers;
  body: Uint8Array;
  hedged: boolean;
}

/**
 * Runs one http step: rendered headers checked, identical GET/HEAD calls in flight coalesced, then
 * retries, hedging and per-attempt timeouts under the batch's deadline and budgets.
 */
export async function runHttp(spec: HttpSpec, run: HttpRun): Promise<StepOutput> {
  const { deps } = run;
  // Literal values were checked up front; a value that a reference rendered is checked here.
  const sentAsHeaders = { ...spec.headers, ...(spec.idempotencyKey === undefined ? {} : { idempotencyKey: spec.idempotencyKey }) };
  for (const [name, value] of Object.entries(sentAsHeaders) as Array<[string, unknown]>) {
    const scalar = typeof value === "string" || typeof value === "number" || typeof value === "boolean";
    if (!scalar || !HEADER_VALUE.test(String(value))) {
      throw new FanoutError(
        "validation_failed",
        `header ${name}: after references are resolved it must be printable ASCII (no CR, LF or NUL, other control characters or non-ASCII text)`,
      );
    }
  }
  const url = absoluteUrl(spec.url);
  const coalescible = (spec.method === "GET" || spec.method === "HEAD") && spec.body === undefined;
  if (!coalescible) return { ...(await execute(spec, url, run)), coalesced: false };
  const { value, shared } = await deps.coalesce.http.do(coalescingKey(spec, url), () => execute(spec, url, run));
  return { ...value, coalesced: shared };
}

/**
 * Calls that would answer alike share one key: the method and URL, and everything else that shapes
 * the answer. The common step (no headers, pick, timeout, retry or hedge) keys on the first two alone.
 */
function coalescingKey(spec: HttpSpec, url: string): string {
  const { headers, pick, timeoutMs, retry, hedge } = spec;
  const plain = headers === undefined && pick === undefined && timeoutMs === undefined && retry === undefined && hedge === undefined;
  return plain
    ? `${spec.method} ${url}`
    : JSON.stringify([spec.method, url, headers ?? {}, pick ?? null, timeoutMs ?? null, retry ?? null, hedge ?? null]);
}

async function execute(spec: HttpSpec, url: string, run: HttpRun): Promise<StepOutput> {
  const { deps, signal } = run;
  // Checked once per step: the parsed URL serves the breaker's origin and every attempt's fetch.
  let target: URL;
  try {
    target = checkTarget(url, deps.allowList);
  } catch (error) {
    return { ok: false, error: stepErrorOf(toFanoutError(error, signal)), attempts: 1 };
  }
  const policy = httpRetryPolicy(spec.method, spec.idempotencyKey);
  const step = stepCallOf(spec, target, run);
  const { guard } = step;
  const { slot } = run;
  // A retry is another connection waiting for headers: it queues for a slot like any other call.
  const attempt = (n: number) => (n > 1 && slot ? slot.acquire().then(() => attemptOnce(step, n)) : attemptOnce(step, n));
  const attempted = await retry<Fetched>(attempt, {
    attempts: spec.retry?.attempts ?? 1,
    baseDelayMs: spec.retry?.baseDelayMs,
    maxDelayMs: spec.retry?.maxDelayMs,
    deadline: deps.deadline,
    signal,
    // No retry (and no retry budget spent) while the origin's circuit is open: it would be refused.
    decide: (outcome) => (guard && guard.breakers.pausedFor(guard.origin) > 0 ? { retry: false } : policy(outcome)),
    beforeRetry: () => deps.budgets.retries.tryTake(),
  });
  // A stop from outside (the mode, the deadline, the caller) is the error (retry gives its reason), and the
  // result still says how many attempts were made before it: a step the deadline ended mid-retry shows them.
  if (!attempted.ok) return { ok: false, error: stepErrorOf(attempted.error), attempts: attempted.attempts };
  const fetched = attempted.value;
  const ok = fetched.status >= 200 && fetched.status < 300;
  return {
    ok,
    status: fetched.status,
    headers: visibleHeaders(fetched.headers),
    body: decodeBody(fetched.body, fetched.headers, spec.pick),
    bytes: fetched.body.byteLength,
    attempts: attempted.attempts,
    hedged: fetched.hedged,
    ...(ok ? {} : { error: { code: "http_status", message: `the upstream answered ${fetched.status}` } }),
  };
}

/** One attempt: hedged when asked and when a hedge could still finish in time. */
function attemptOnce(step: StepCall, attempt: number): Promise<Fetched> {
  const { spec } = step;
  const { deps, signal } = step.run;
  const call = (callSignal: AbortSignal) => timedCall(step, attempt, callSignal);
  if (!spec.hedge || spec.hedge.afterMs >= deps.deadline.remaining())
    return call(signal).then((fetched) => ({ ...fetched, hedged: false }));
  return hedge(call, { afterMs: spec.hedge.afterMs, signal }).then(({ value, hedged }) => ({ ...value, hedged }));
}

/**
 * One upstream call bounded by min(timeoutMs, what is left of the deadline), admitted by its
 * origin's circuit breaker and reported to it.
 */
function timedCall(step: StepCall, attempt: number, signal: AbortSignal): Promise<Fetched> {
  const { spec, guard } = step;
  const { deps } = step.run;
  const admission = guard?.breakers.admit(guard.origin);
  if (guard && admission && !admission.ok) {
    const seconds = Math.max(1, Math.ceil(admission.retryAfterMs / 1000));
    const detail = `calls to ${guard.origin} are paused after ${guard.breakers.settings.failureThreshold} consecutive failures; next trial in ~${seconds} s`;
    return Promise.reject(new FanoutError("circuit_open", detail));
  }
  const timeoutMs = spec.timeoutMs ?? deps.defaultTimeoutMs;
  // The origin's answer is known at its headers: reported then (the ticket counts its first report),
  // before the step frees its slot, so a call that slot lets start sees the circuit as it now is.
  const onHeaders = admission?.ok
    ? (status: number) => (status >= 500 ? admission.ticket.failure() : admission.ticket.success())
    : undefined;
  const call = (callSignal: AbortSignal) => fetchOnce(step, attempt, callSignal, onHeaders);
  const called =
    // When the deadline is the tighter bound, let it fire (deadline_exceeded) rather than a timeout.
    timeoutMs >= deps.deadline.remaining()
      ? abortable(call(signal), signal)
      : ownsSignal(step, signal)
        ? selfTimedCall(step, timeoutMs, call)
        : withTimeout(call, { ms: timeoutMs, signal, label: `timeoutMs` });
  if (!admission?.ok) return called;
  const { ticket } = admission;
  // An answer was reported at its headers (onHeaders); what is left is a call that failed before them
  // (a failure after them is ignored: the ticket counts its first report).
  return called.catch((error: unknown) => {
    // Only the origin's own failures count. A cancelled call (hedge loser, batch stopped), a refused
    // target, a spent budget or the batch deadline say nothing about the origin: the slot is given back.
    const code = isFanoutError(error) ? error.code : undefined;
    if (code === "network" || code === "timeout") ticket.failure();
    else ticket.release();
    throw error;
  });
}

/** Whether this call is the step's only one (one attempt, not a hedge, not a forEach item): then it may end the step's own signal. */
function ownsSignal(step: StepCall, signal: AbortSignal): boolean {
  return step.run.abort !== undefined && signal === step.run.signal && (step.spec.retry?.attempts ?? 1) === 1;
}

/**
 * The step's only call, timed out through the step's own signal and the deadline's one timer
 * (TimeoutQueue): no controller, timer or listener of its own.
 */
function selfTimedCall(step: StepCall, timeoutMs: number, call: (signal: AbortSignal) => Promise<Fetched>): Promise<Fetched> {
  const { signal, abort, deps } = step.run;
  const cancel = deps.deadline.timeouts.schedule(timeoutMs, () =>
    abort!(new FanoutError("timeout", `timeoutMs of ${timeoutMs} ms exceeded`)),
  );
  return abortable(call(signal), signal).finally(cancel);
}

/** The circuit breakers that guard a step's calls, and the origin they count against. */
interface Guard {
  breakers: CircuitBreakers;
  origin: string;
}

/** The guard of `url`, worked out once per step; none for in-process `/v1/sim/` URLs (no upstream to protect). */
function guardOf(url: URL, deps: HttpDeps): Guard | undefined {
  if (!deps.breakers || isInProcessUrl(url.href)) return undefined;
  return { breakers: deps.breakers, origin: url.origin };
}

/** What every attempt of one step shares, worked out once per step. */
interface StepCall {
  spec: HttpSpec;
  /** The absolute URL (in-process `/v1/sim/` paths resolved), checked against the allow-list. */
  url: URL;
  run: HttpRun;
  /** The headers every attempt sends alike (without the per-attempt ones). */
  headers: Array<[string, string]>;
  body: string | undefined;
  guard: Guard | undefined;
}

/** Per attempt: a fresh span id in `traceparent`, and the attempt number on a retry; a client's own values for these are replaced. */
const PER_ATTEMPT_HEADERS = new Set(["traceparent", ATTEMPT_HEADER]);

function stepCallOf(spec: HttpSpec, url: URL, run: HttpRun): StepCall {
  const guard = guardOf(url, run.deps);
  // The common step sends no headers of its own: nothing to normalise.
  if (spec.headers === undefined && spec.idempotencyKey === undefined && spec.body === undefined) {
    return { spec, url, run, headers: [], body: undefined, guard };
  }
  const headers = new Headers(spec.headers);
  if (spec.idempotencyKey) headers.set("idempotency-key", spec.idempotencyKey);
  let body: string | undefined;
  if (spec.body !== undefined) {
    body = typeof spec.body === "string" ? spec.body : JSON.stringify(spec.body);
    if (!headers.has("content-type"))
      headers.set("content-type", typeof spec.body === "string" ? "text/plain; charset=utf-8" : "application/json");
  }
  const shared = [...headers].filter(([name]) => !PER_ATTEMPT_HEADERS.has(name));
  return { spec, url, run, headers: shared, body, guard };
}

async function fetchOnce(step: StepCall, attempt: number, signal: AbortSignal, onHeaders?: (status: number) => void): Promise<Fetched> {
  const { spec, url } = step;
  const { deps } = step.run;
  const headers: Array<[string, string]> = [...step.headers, ["traceparent", deps.trace.child()]];
  // Only a retry says which attempt it is: an upstream reads no header as the first (as /v1/sim/flaky does).
  if (attempt > 1) headers.push([ATTEMPT_HEADER, String(attempt)]);
  const { response } = await fetchUpstream(
    { url, method: spec.method, headers, body: step.body },
    {
      allowList: deps.allowList,
      signal,
      fetcher: deps.fetcher,
      maxRedirects: spec.maxRedirects,
      credentialsFor: (origin) => deps.credentials[origin],
    },
  );
  // The headers are here (after every redirect hop): the connection no longer counts toward the six.
  onHeaders?.(response.status);
  step.run.slot?.release();
  const bytes = spec.method === "HEAD" ? new Uint8Array() : await readBodyLimited(response, stepReadLimits(deps, signal));
  return { status: response.status, headers: response.headers, body: bytes, hedged: false };
}
