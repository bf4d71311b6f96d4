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

/**
 * Workers Paid: subrequests one request may make by default (fetch and calls to Cloudflare services
 * alike); `[limits] subrequests` in wrangler.toml changes it (up to 10,000,000). The runtime's limit
 * always wins: a subrequest over it fails. SUBREQUEST_BUDGET is fanout's own, earlier check (a batch
 * that could go over it is refused with 400 before anything runs), so SUBREQUEST_BUDGET +
 * OWN_SUBREQUESTS must not exceed the runtime's limit.
 */
export const PAID_SUBREQUESTS = 10_000;

/** The most `[limits] subrequests` may allow (Workers Paid). */
export const MAX_PLATFORM_SUBREQUESTS = 10_000_000;

/** Workers Free: external subrequests per request (fetch), besides FREE_SERVICE_SUBREQUESTS. */
export const FREE_EXTERNAL_SUBREQUESTS = 50;

/** Workers Free: subrequests per request to Cloudflare services (KV, R2, D1, Cache, Queues, Durable Objects). */
export const FREE_SERVICE_SUBREQUESTS = 1_000;

/**
 * Subrequests fanout makes in one request besides a batch's steps (the audit send, a composite's cache
 * read and write, the job store and the idempotency claim): kept out of SUBREQUEST_BUDGET.
 */
export const OWN_SUBREQUESTS = 10;

/** SUBREQUEST_BUDGET's default: Workers Paid's default limit less fanout's own subrequests. */
export const DEFAULT_SUBREQUEST_BUDGET = PAID_SUBREQUESTS - OWN_SUBREQUESTS;

/**
 * Outgoing connections (fetch, KV, R2, Cache, Queues; service bindings share them) one invocation may
 * have waiting for their response headers at once. A slot frees when the headers arrive, not when the
 * body has been read. Local workerd does not enforce it. DEFAULT_CONCURRENCY (6) matches it, and
 * fanout's pool follows the same rule: a step frees its slot when its response headers arrive
 * (StepRun.slot in lib/batch/steps/context.ts).
 */
export const CONNECTIONS_WAITING_FOR_HEADERS = 6;
