import type { Context } from "hono";

/**
 * A client that sends Accept-Encoding: gzip (every browser, curl --compressed, Node's fetch) would
 * otherwise get the stream compressed by the runtime, which buffers it: the first bytes would only
 * arrive with the last. `Content-Encoding: identity` opts this response out of that compression and
 * `no-transform` asks proxies on the way not to re-encode or buffer it either.
 */
export function markAsLiveStream(c: Context): void {
  c.header("content-encoding", "identity");
  c.header("cache-control", "no-store, no-transform");
  c.header("x-accel-buffering", "no");
}
