import { AFTER_RESPONSE_TIMEOUT_MS } from "../base/limits";
import { describeError, type Logger } from "../base/log";
import { sleep, withTimeout } from "./timers";

/**
 * Post-response work (asyncio's add_done_callback): registered with waitUntil so it runs after the
 * response is sent. Each task has its own timeout; every failure is caught and logged as one
 * structured line, so a rejected promise never escapes into the runtime.
 */

/** The runtime's `ctx.waitUntil`, passed as a function. */
export type WaitUntil = (promise: Promise<unknown>) => void;

export interface AfterResponseOptions {
  waitUntil: WaitUntil;
  /** Names the task in logs. */
  task: string;
  requestId: string;
  logger: Logger;
  /** Default AFTER_RESPONSE_TIMEOUT_MS (25 s), inside the ~30 s the runtime gives waitUntil work. */
  timeoutMs?: number;
}

/**
 * Runs `work` after the response, on a later turn, bounded by `timeoutMs` (its signal aborts then).
 * @returns the guarded promise (also handed to waitUntil), which always resolves.
 * @example runAfterResponse((signal) => writeAudit(db, record), { waitUntil: ctx.waitUntil.bind(ctx), task: "audit", requestId, logger });
 */
export function runAfterResponse(
  work: (signal: AbortSignal) => Promise<unknown>,
  { waitUntil, task, requestId, logger, timeoutMs = AFTER_RESPONSE_TIMEOUT_MS }: AfterResponseOptions,
): Promise<void> {
  // Starting on a later turn lets the response go out first: the work is after the response, not before it.
  const guarded = sleep(0)
    .then(() => withTimeout(work, { ms: timeoutMs, label: `post-response task ${task}` }))
    .then(
      () => undefined,
      (error: unknown) => logger.log("error", "post-response task failed", { requestId, task, ...describeError(error) }),
    );
  waitUntil(guarded);
  return guarded;
}
