/**
 * Limits that follow from the Workers platform, declared once; configuration defaults, schemas and
 * the README derive from them.
 */

/** waitUntil work gets about 30 s after the response; fanout plans post-response work within 28 s of it. */
export const WAIT_UNTIL_WINDOW_MS = 28_000;

/** A post-response task's own timeout unless it names one: inside the window, with room to log a failure. */
export const AFTER_RESPONSE_TIMEOUT_MS = 25_000;

/**
 * Async jobs whose deadline is at most this run in waitUntil (the default of ASYNC_WAITUNTIL_LIMIT_MS);
 * the rest of the window is left for the first callback delivery.
 */
export const ASYNC_WAITUNTIL_LIMIT_MS = 20_000;

/** Redirect hops one upstream call may follow; each hop is re-checked and costs a subrequest. */
export const MAX_REDIRECTS = 5;
