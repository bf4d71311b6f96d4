import { abortReason, type FanoutError, toFanoutError } from "../base/errors";
import { checkMs, type Deadline, sleep } from "./timers";

/**
 * Retry with capped exponential backoff and full jitter. The decision is the caller's (`decide`),
 * because what is retryable depends on the operation; `httpRetryPolicy` is the one for HTTP.
 * It never waits past the deadline: a retry that could not start in time is not attempted.
 */

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: FanoutError };

export type Attempted<T> = Outcome<T> & { attempts: number };

export interface RetryDecision {
  retry: boolean;
  /** A server-requested wait (Retry-After), used instead of backoff when longer. */
  afterMs?: number;
}

export interface RetryOptions<T> {
  /** Total attempts including the first, 1..10. */
  attempts: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  decide: (outcome: Outcome<T>, attempt: number) => RetryDecision;
  /** A time bound only: no retry starts (or is slept on) that could not begin before it. */
  deadline?: Deadline;
  /**
   * Stops everything: the running attempt gets it, and a backoff or Retry-After wait ends the moment
   * it aborts. A caller with a deadline passes a signal that already carries it; without a signal
   * the deadline's own signal is used.
   */
  signal?: AbortSignal;
  /** Returns a value in [0, 1); injectable so tests are deterministic. */
  random?: () => number;
  /** Called before a retry is slept on; returning false vetoes it (e.g. a batch-wide retry budget). */
  beforeRetry?: (attempt: number, delayMs: number) => boolean;
}

const MAX_ATTEMPTS = 10;

/** Full jitter: a random share of min(maxDelayMs, baseDelayMs * 2^(attempt-1)). */
function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs: number, random: () => number): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * Runs `operation` up to `attempts` times, sleeping a backoff (or a longer server-requested wait)
 * between attempts when `decide` says so.
 *
 * @returns the last outcome and the attempts made; it never throws for a failed attempt. When the
 * signal aborts (during an attempt or a wait) the outcome is the abort reason.
 * @throws RangeError for options out of range (checked before the first attempt).
 * @example
 * const { ok, value } = await retry((attempt, signal) => fetch(url, { signal }), {
 *   attempts: 3, decide: httpRetryPolicy("GET"), signal, deadline,
 * });
 */
export async function retry<T>(
  operation: (attempt: number, signal: AbortSignal | undefined) => Promise<T>,
  options: RetryOptions<T>,
): Promise<Attempted<T>> {
  const { attempts, baseDelayMs = 100, maxDelayMs = 5_000, decide, deadline, random = Math.random, beforeRetry } = options;
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > MAX_ATTEMPTS) {
    throw new RangeError(`attempts must be an integer from 1 to ${MAX_ATTEMPTS}, got ${attempts}`);
  }
  checkMs("baseDelayMs", baseDelayMs);
  checkMs("maxDelayMs", maxDelayMs);
  // One signal: the caller's (which carries the deadline and every stop), never the deadline's
  // in its place, or a mode's stop or a client disconnect would not reach a step asleep in a wait.
  const signal = options.signal ?? deadline?.signal;

  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) return { ok: false, error: abortReason(signal), attempts: attempt - 1 };
    let outcome: Outcome<T>;
    try {
      outcome = { ok: true, value: await operation(attempt, signal) };
    } catch (error) {
      outcome = { ok: false, error: toFanoutError(error, signal) };
    }
    if (attempt >= attempts || signal?.aborted) return { ...outcome, attempts: attempt };
    const decision = decide(outcome, attempt);
    if (!decision.retry) return { ...outcome, attempts: attempt };
    const delayMs = Math.max(backoffDelay(attempt, baseDelayMs, maxDelayMs, random), decision.afterMs ?? 0);
    // Sleeping past the deadline would only turn this outcome into a deadline error.
    if (deadline && delayMs >= deadline.remaining()) return { ...outcome, attempts: attempt };
    if (beforeRetry && !beforeRetry(attempt, delayMs)) return { ...outcome, attempts: attempt };
    try {
      await sleep(delayMs, { signal });
    } catch {
      // Stopped while waiting to retry: the caller asked to stop, so that is the outcome.
      return { ok: false, error: abortReason(signal!), attempts: attempt };
    }
  }
}

const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
const RETRYABLE_STATUSES = new Set([408, 429, 502, 503, 504]);

/** Parses Retry-After (delta-seconds or HTTP-date) into milliseconds from `now`; undefined if absent or invalid. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

function isIdempotent(method: string, idempotencyKey?: string | null): boolean {
  return IDEMPOTENT_METHODS.has(method.toUpperCase()) || Boolean(idempotencyKey);
}

/**
 * The HTTP retry rule: only idempotent calls (or calls carrying an idempotency key), only on
 * network errors, per-attempt timeouts and 408/429/502/503/504, honouring Retry-After.
 */
export function httpRetryPolicy(method: string, idempotencyKey?: string | null) {
  const allowed = isIdempotent(method, idempotencyKey);
  return (outcome: Outcome<{ status: number; headers: Headers }>): RetryDecision => {
    if (!allowed) return { retry: false };
    if (!outcome.ok) return { retry: outcome.error.code === "network" || outcome.error.code === "timeout" };
    if (!RETRYABLE_STATUSES.has(outcome.value.status)) return { retry: false };
    return { retry: true, afterMs: parseRetryAfter(outcome.value.headers.get("retry-after")) };
  };
}
