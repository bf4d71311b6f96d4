import { FanoutError } from "../base/errors";
import type { Fetcher } from "../base/http";
import { parseAllowRule } from "../base/policy";

/**
 * Relative `/v1/sim/...` step URLs are served in-process, by the gateway itself, under one private
 * origin: no network and no subrequest. Everything about that origin lives here.
 */

/** The origin relative step URLs are given; it never leaves the isolate. */
const IN_PROCESS_ORIGIN = "http://fanout.internal";

/** The allow-list rule that lets steps reach the in-process origin (only when DEMO_ENABLED). */
export const IN_PROCESS_RULE = parseAllowRule(IN_PROCESS_ORIGIN);

/** The header that tells an upstream (and the in-process /v1/sim/flaky) which attempt this is. */
export const ATTEMPT_HEADER = "x-fanout-attempt";

/** Answers an in-process request; the composition root passes the gateway's own `fetch`. */
export type InProcessHandler = (request: Request) => Response | Promise<Response>;

/** Whether a step URL (as written, or made absolute) is served in-process. */
export function isInProcessUrl(url: string): boolean {
  return url.startsWith("/") || url.startsWith(`${IN_PROCESS_ORIGIN}/`);
}

/** A step URL made absolute: a relative `/v1/sim/...` path gets the in-process origin. */
export function absoluteUrl(url: string): string {
  return url.startsWith("/") ? IN_PROCESS_ORIGIN + url : url;
}

/**
 * A fetcher that sends in-process URLs to `serve` and everything else to the global fetch. Only
 * `/v1/sim/` is served in-process; any other in-process path is `forbidden_target`.
 */
export function inProcessFetcher(serve: InProcessHandler): Fetcher {
  // The URL comes serialized (URL.href: lower-case scheme and host, a path that starts with "/"): a prefix test is exact.
  // Not an async function: an upstream call gets fetch's own promise, with no wrapper around it.
  return (url, init) => {
    if (!url.startsWith(`${IN_PROCESS_ORIGIN}/`)) return fetch(url, init);
    if (!url.startsWith(`${IN_PROCESS_ORIGIN}/v1/sim/`))
      return Promise.reject(new FanoutError("forbidden_target", "only /v1/sim/ is served in-process"));
    return Promise.resolve(serve(new Request(url, init)));
  };
}
