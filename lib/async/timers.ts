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
 * A point in time after which work must stop. Its `signal` aborts with a typed error when the time
 * is up or when the parent signal aborts. `child(ms)` gives an operation min(ms, what is left).
 * Dispose a deadline when the work it bounds has settled, so its timer does not outlive it.
 */
export class Deadline {
  readonly expiresAt: number;
  readonly signal: AbortSignal;
  readonly #controller = new AbortController();
  readonly #timer: ReturnType<typeof setTimeout>;
  /** Removes the link to the parent signal (a no-op without a parent, or once either has aborted). */
  readonly #unlinkParent: () => void;
  // Kept so dispose() can remove it: a disposed deadline leaves nothing attached to its signal.
  readonly #clearOnAbort = () => clearTimeout(this.#timer);

  private constructor(ms: number, code: ErrorCode, parent: AbortSignal | undefined, label: string) {
    this.expiresAt = Date.now() + ms;
    // Linked by hand (linkSignals), not with AbortSignal.any: see linkSignals.
    const link = parent ? linkSignals([parent, this.#controller.signal]) : { signal: this.#controller.signal, dispose: () => {} };
    this.signal = link.signal;
    this.#unlinkParent = link.dispose;
    this.#timer = setTimeout(() => {
      this.#controller.abort(new FanoutError(code, `${label} of ${ms} ms exceeded`));
    }, ms);
    if (this.signal.aborted) clearTimeout(this.#timer);
    else this.signal.addEventListener("abort", this.#clearOnAbort, { once: true });
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

  get expired(): boolean {
    return this.signal.aborted;
  }

  /**
   * A deadline for one operation: the earlier of this deadline and `ms`. When `ms` is the binding
   * limit it aborts with `timeout`; when this deadline is, with this deadline's own error.
   */
  child(ms: number, label = "timeout"): Deadline {
    checkMs("ms", ms);
    const left = this.remaining();
    if (ms < left) return new Deadline(ms, "timeout", this.signal, label);
    // The parent fires first; the child's own timer is a backstop one tick later.
    return new Deadline(left + 1, "deadline_exceeded", this.signal, "deadline");
  }

  /** Clears the timer and removes the deadline's listeners (its own and the one on its parent); safe to call more than once. */
  dispose(): void {
    clearTimeout(this.#timer);
    this.#unlinkParent();
    this.signal.removeEventListener("abort", this.#clearOnAbort);
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
  const controller = new AbortController();
  const onCallerAbort = () => controller.abort(signal!.reason);
  signal?.addEventListener("abort", onCallerAbort, { once: true });
  const timer = setTimeout(() => controller.abort(new FanoutError("timeout", `${label} of ${ms} ms exceeded`)), ms);
  try {
    return await abortable(
      Promise.resolve().then(() => task(controller.signal)),
      controller.signal,
    );
  } finally {
    clearTimeout(timer);
    // Once the caller's signal has aborted, its `once` listener has already gone.
    if (signal && !signal.aborted) signal.removeEventListener("abort", onCallerAbort);
  }
}

/** Milliseconds since `start`, by the clock (which in Workers advances only across I/O). */
export function elapsedSince(start: number): number {
  return Math.max(0, Date.now() - start);
}
