import { abortReason, type ErrorCode, FanoutError } from "../base/errors";

/**
 * Timers and deadlines. Everything here bounds work with real timers (setTimeout + AbortController),
 * never AbortSignal.timeout, so fake timers can drive it in tests. In Workers the clock only moves
 * across I/O, so elapsed time is measured with Date.now() but bounds are enforced by timers.
 */

export interface SignalOption {
  signal?: AbortSignal;
}

/** Checks an option eagerly: a finite number of milliseconds in [0, max]. @throws RangeError naming the option. */
export function checkMs(name: string, ms: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isFinite(ms) || ms < 0 || ms > max) {
    throw new RangeError(`${name} must be a finite number of milliseconds between 0 and ${max}, got ${ms}`);
  }
}

/** asyncio.sleep: resolves after `ms`; on abort clears its timer and rejects with the abort reason. */
export function sleep(ms: number, { signal }: SignalOption = {}): Promise<void> {
  checkMs("ms", ms);
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Settles with `promise`, or rejects as soon as `signal` aborts, whichever comes first. Used so that
 * a caller is released promptly even when the work underneath ignores its signal.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * AbortSignal.any with a way to let go: `signal` aborts with the reason of the first of `signals`
 * to abort, and `dispose()` removes the listeners this added to them (call it once the work that
 * the signal bounds has settled; it is also done when `signal` aborts).
 *
 * fanout never calls AbortSignal.any: in workerd each signal it makes keeps 4-5 KiB of native
 * memory that no garbage collection gives back, so the few made per request grew the process by
 * tens of KiB per batch without bound (measured with `npm run soak`).
 */
export function linkSignals(signals: readonly AbortSignal[]): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  let linked = false;
  // Removes what is still attached: a `once` listener that fired has already gone.
  const unlink = (except?: number) => {
    if (!linked) return;
    linked = false;
    signals.forEach((source, index) => {
      if (index !== except) source.removeEventListener("abort", listeners[index]!);
    });
  };
  const listeners = signals.map((source, index) => () => {
    unlink(index);
    controller.abort(source.reason);
  });
  const aborted = signals.find((source) => source.aborted);
  if (aborted) controller.abort(aborted.reason);
  else {
    signals.forEach((source, index) => {
      source.addEventListener("abort", listeners[index]!, { once: true });
    });
    linked = true;
  }
  return { signal: controller.signal, dispose: () => unlink() };
}

/**
 * The one parent-linked timer: a controller that aborts with a typed `code` error after `ms`, or
 * with the parent's reason when `parent` aborts first. One controller, one timer and one listener
 * on the parent; whichever fires first lets go of the other, and `release()` lets go of both (call
 * it once the work the signal bounds has settled; safe to call more than once).
 */
function parentLinkedTimer(
  ms: number,
  code: ErrorCode,
  label: string,
  parent: AbortSignal | undefined,
): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  if (parent?.aborted) {
    controller.abort(parent.reason);
    return { signal: controller.signal, release: () => {} };
  }
  // Whether the listener is still on the parent: a `once` listener that fired has already gone.
  let linked = parent !== undefined;
  const unlink = () => {
    if (!linked) return;
    linked = false;
    parent!.removeEventListener("abort", onParentAbort);
  };
  const onParentAbort = () => {
    linked = false;
    clearTimeout(timer);
    controller.abort(parent!.reason);
  };
  const timer = setTimeout(() => {
    unlink();
    controller.abort(new FanoutError(code, `${label} of ${ms} ms exceeded`));
  }, ms);
  parent?.addEventListener("abort", onParentAbort, { once: true });
  return {
    signal: controller.signal,
    release: () => {
      clearTimeout(timer);
      unlink();
    },
  };
}

interface Timeout {
  at: number;
  fire: () => void;
  cancelled: boolean;
}

/**
 * Many timeouts on one timer: each `schedule(ms, fire)` is an entry in a list kept in time order, and
 * one setTimeout waits for the earliest. A hundred calls that each need a timeout cost a hundred
 * entries, not a hundred timers, controllers and listeners. A cancelled entry is dropped when its
 * time comes (or at dispose). When the timer fires, every entry due by the time it was set for fires.
 */
export class TimeoutQueue {
  readonly #entries: Timeout[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  /** Calls `fire` after `ms` unless the returned function is called first. @throws RangeError for a bad `ms`. */
  schedule(ms: number, fire: () => void): () => void {
    checkMs("ms", ms);
    const entry: Timeout = { at: Date.now() + ms, fire, cancelled: false };
    const entries = this.#entries;
    let index = entries.length;
    while (index > 0 && entries[index - 1]!.at > entry.at) index--;
    entries.splice(index, 0, entry);
    if (entry.at < this.#timerAt) this.#arm(entry.at);
    return () => {
      entry.cancelled = true;
    };
  }

  /** Clears the timer and forgets every entry; nothing fires after this. */
  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#entries.length = 0;
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#fireDue(at), Math.max(0, at - Date.now()));
  }

  #fireDue(due: number): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const entries = this.#entries;
    while (entries.length > 0 && (entries[0]!.cancelled || entries[0]!.at <= due)) {
      const entry = entries.shift()!;
      if (!entry.cancelled) entry.fire();
    }
    while (entries.length > 0 && entries[0]!.cancelled) entries.shift();
    if (entries.length > 0) this.#arm(entries[0]!.at);
  }
}

/**
 * A point in time after which work must stop. Its `signal` aborts with a typed error when the time
 * is up or when the parent signal aborts. Dispose a deadline when the work it bounds has settled,
 * so its timer and its listener on the parent do not outlive it.
 */
export class Deadline {
  readonly expiresAt: number;
  readonly signal: AbortSignal;
  /** Shorter timeouts of the work under this deadline, on one timer, let go with the deadline. */
  readonly timeouts = new TimeoutQueue();
  readonly #release: () => void;

  private constructor(ms: number, code: ErrorCode, parent: AbortSignal | undefined, label: string) {
    this.expiresAt = Date.now() + ms;
    const timer = parentLinkedTimer(ms, code, label, parent);
    this.signal = timer.signal;
    this.#release = timer.release;
  }

  /** A deadline `ms` from now; `code` is `deadline_exceeded` for whole-request budgets. */
  static after(
    ms: number,
    { signal, code = "deadline_exceeded", label = "deadline" }: SignalOption & { code?: ErrorCode; label?: string } = {},
  ): Deadline {
    checkMs("ms", ms);
    return new Deadline(ms, code, signal, label);
  }

  remaining(now = Date.now()): number {
    if (this.signal.aborted) return 0;
    return Math.max(0, this.expiresAt - now);
  }

  /** Clears its timers and removes the listener on the parent; safe to call more than once. */
  dispose(): void {
    this.#release();
    this.timeouts.dispose();
  }
}

/**
 * asyncio.wait_for: runs `task` with a signal that aborts after `ms` (or when the caller's signal
 * aborts) and rejects promptly with a typed `timeout` error even if the task ignores its signal.
 * One controller, one timer and one listener on the caller's signal per call (this runs once per
 * upstream attempt), all let go when the task settles.
 */
export async function withTimeout<T>(
  task: (signal: AbortSignal) => Promise<T>,
  { ms, signal, label = "timeout" }: SignalOption & { ms: number; label?: string },
): Promise<T> {
  checkMs("ms", ms);
  if (signal?.aborted) throw abortReason(signal);
  const timer = parentLinkedTimer(ms, "timeout", label, signal);
  try {
    return await abortable(
      Promise.resolve().then(() => task(timer.signal)),
      timer.signal,
    );
  } finally {
    timer.release();
  }
}

/** Milliseconds since `start`, by the clock (which in Workers advances only across I/O). */
export function elapsedSince(start: number): number {
  return Math.max(0, Date.now() - start);
}
