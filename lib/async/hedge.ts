import { abortReason, FanoutError, toFanoutError } from "../base/errors";
import { checkMs } from "./timers";

/**
 * Hedged requests: when the first attempt has not answered after `afterMs`, a second one starts;
 * the first success wins and the other is aborted. A failure before the hedge starts is returned
 * as is (retrying failures is retry's job, not hedging's).
 */

export interface HedgeOptions {
  afterMs: number;
  signal?: AbortSignal;
}

export interface Hedged<T> {
  value: T;
  /** Whether a second attempt was started. */
  hedged: boolean;
  /** Which attempt won: 1 = the original, 2 = the hedge. */
  winner: 1 | 2;
}

/**
 * Runs `task` once, and a second time after `afterMs` if the first has not settled; the first
 * success wins and the other attempt is aborted.
 * @returns the value, whether a hedge started, and which attempt won.
 * @throws the first attempt's error if it fails before the hedge starts; the last error if both
 * fail; the abort reason when `signal` aborts (both attempts are aborted then).
 * @example const { value } = await hedge((signal) => fetch(url, { signal }), { afterMs: 300, signal });
 */
export function hedge<T>(task: (signal: AbortSignal, attempt: 1 | 2) => Promise<T>, { afterMs, signal }: HedgeOptions): Promise<Hedged<T>> {
  checkMs("afterMs", afterMs);
  if (signal?.aborted) return Promise.reject(abortReason(signal));

  return new Promise<Hedged<T>>((resolve, reject) => {
    const controllers: AbortController[] = [];
    let failures = 0;
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;

    // The winner's signal is left alone: its result (a response body, say) may still be streaming.
    const finish = (
      settle: () => void,
      winner?: AbortController,
      reason = new FanoutError("cancelled", "cancelled: the other hedged attempt won"),
    ) => {
      if (done) return;
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      for (const controller of controllers) {
        if (controller !== winner) controller.abort(reason);
      }
      settle();
    };
    // The caller's abort reaches every attempt through this one listener (not AbortSignal.any per
    // attempt, which leaks native memory in workerd: see linkSignals in timers.ts).
    const onAbort = () => finish(() => reject(abortReason(signal!)), undefined, abortReason(signal!));

    const start = (attempt: 1 | 2) => {
      const controller = new AbortController();
      controllers.push(controller);
      const attemptSignal = controller.signal;
      Promise.resolve()
        .then(() => task(attemptSignal, attempt))
        .then(
          (value) => finish(() => resolve({ value, hedged: controllers.length > 1, winner: attempt }), controller),
          (error: unknown) => {
            failures++;
            const failure = toFanoutError(error, attemptSignal);
            // Before the hedge starts a failure is final; after, only the second failure is.
            if (controllers.length === 1 || failures === 2) finish(() => reject(failure));
          },
        );
    };

    signal?.addEventListener("abort", onAbort, { once: true });
    start(1);
    timer = setTimeout(() => {
      timer = undefined;
      if (!done) start(2);
    }, afterMs);
  });
}
