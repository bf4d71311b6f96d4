import { describeError, type Logger } from "../base/log";
import { sleep, withTimeout } from "./timers";

/**
 * Post-response work (asyncio's add_done_callback): registered with ctx.waitUntil so it runs after
 * the response is sent. Each task has its own timeout; every failure is caught and logged as one
 * structured line, so a rejected promise never escapes into the runtime.
 */

export interface WaitUntil {
  waitUntil(promise: Promise<unknown>): void;
}

export interface AfterResponseOptions {
  /** Names the task in logs. */
  task: string;
  requestId: string;
  logger: Logger;
  timeoutMs?: number;
}

export const DEFAULT_AFTER_RESPONSE_TIMEOUT_MS = 25_000;

/** Returns the guarded promise (also handed to waitUntil), which always resolves. */
export function runAfterResponse(
  ctx: WaitUntil,
  work: (signal: AbortSignal) => Promise<unknown>,
  { task, requestId, logger, timeoutMs = DEFAULT_AFTER_RESPONSE_TIMEOUT_MS }: AfterResponseOptions,
): Promise<void> {
  // Starting on a later turn lets the response go out first: the work is after the response, not before it.
  const guarded = sleep(0)
    .then(() => withTimeout(work, { ms: timeoutMs, label: `post-response task ${task}` }))
    .then(
    () => undefined,
    (error: unknown) => logger.log("error", "post-response task failed", { requestId, task, ...describeError(error) }),
  );
  ctx.waitUntil(guarded);
  return guarded;
}
