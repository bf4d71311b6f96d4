import { sha256Hex } from "./bytes";
import { abortReason, FanoutError, isFanoutError } from "./errors";
import { MAX_REDIRECTS } from "./limits";
import { type AllowList, checkTarget, passedTarget } from "./policy";

/**
 * Upstream HTTP under the allow-list: redirects are followed by hand so that every hop is checked
 * again, and credentials never cross to another origin. Bodies are read under a byte limit.
 */

/**
 * How an upstream is reached: `fetch`'s own (url, init) form, so the common call builds no Request
 * or Headers object of its own (the runtime makes the one it sends).
 */
export type Fetcher = (url: string, init: RequestInit) => Promise<Response>;

const globalFetch: Fetcher = (url, init) => fetch(url, init);

export interface UpstreamFetchOptions {
  allowList: AllowList;
  signal?: AbortSignal;
  maxRedirects?: number;
  /** Defaults to the global fetch; injectable for in-process upstreams and tests. */
  fetcher?: Fetcher;
  /** Headers that belong to one origin only (per-upstream credentials); re-applied on every hop. */
  credentialsFor?: (origin: string) => Record<string, string> | undefined;
}

export interface UpstreamResponse {
  response: Response;
  /** The URL that finally answered. */
  url: URL;
  redirects: number;
}

/**
 * What a header value may hold: printable ASCII and tabs. CR, LF and NUL would split or end the
 * header; other control characters and non-ASCII text have no portable encoding in a header.
 */
export const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const CREDENTIAL_HEADERS = ["authorization", "cookie", "proxy-authorization"];

export interface UpstreamRequest {
  /** The target as written (checked here), or the URL checkTarget returned for the same allow-list (not checked again). */
  url: string | URL;
  method?: string;
  headers?: HeadersInit;
  body?: BodyInit | null;
}

/**
 * aiohttp's `session.get`, under the allow-list: the target and every redirect hop are checked,
 * redirects are followed by hand (up to `maxRedirects`), and per-origin credentials never cross to
 * another origin.
 * @throws FanoutError `forbidden_target` (refused before any request), `redirect_blocked`,
 * `network`, or the abort reason when `signal` aborts.
 */
export async function fetchUpstream(request: UpstreamRequest, options: UpstreamFetchOptions): Promise<UpstreamResponse> {
  const { allowList, signal, maxRedirects = MAX_REDIRECTS, fetcher = globalFetch, credentialsFor = () => undefined } = options;
  // Checked before anything is sent, so a refused target is never even requested.
  let url = typeof request.url !== "string" && passedTarget(request.url, allowList) ? request.url : checkTarget(request.url, allowList);
  let hop: Hop = {
    method: request.method ?? "GET",
    headers: withCredentials(request.headers ?? [], undefined, credentialsFor(url.origin)),
    body: request.body ?? null,
  };

  for (let redirects = 0; ; redirects++) {
    const response = await send(fetcher, url.href, { ...hop, redirect: "manual", signal }, signal);
    const location = response.status >= 300 && response.status < 400 ? response.headers.get("location") : null;
    if (!REDIRECT_STATUSES.has(response.status) || !location) return { response, url, redirects };
    await response.body?.cancel();
    if (redirects >= maxRedirects) throw new FanoutError("redirect_blocked", `more than ${maxRedirects} redirects`);

    let next: URL;
    try {
      next = checkTarget(location, allowList, url.href);
    } catch (error) {
      const reason = isFanoutError(error) ? error.detail : "invalid Location";
      throw new FanoutError("redirect_blocked", `redirect refused: ${reason}`);
    }
    hop = redirectHop(hop, response.status, url, next);
    if (next.origin !== url.origin) hop.headers = withCredentials(hop.headers, credentialsFor(url.origin), credentialsFor(next.origin));
    url = next;
  }
}

/** One hop's request, as the fetcher gets it (with `redirect: "manual"` and the signal added). */
interface Hop {
  method: string;
  headers: HeadersInit;
  body: BodyInit | null;
}

/** The headers with one origin's credentials swapped for another's; the same object when there are none to swap. */
function withCredentials(
  headers: HeadersInit,
  previous: Record<string, string> | undefined,
  next: Record<string, string> | undefined,
): HeadersInit {
  if (previous === undefined && next === undefined) return headers;
  const swapped = new Headers(headers);
  for (const name of Object.keys(previous ?? {})) swapped.delete(name);
  for (const [name, value] of Object.entries(next ?? {})) swapped.set(name, value);
  return swapped;
}

/** The request for the next hop, as a browser would make it, minus credentials on a new origin. */
function redirectHop(previous: Hop, status: number, from: URL, to: URL): Hop {
  const headers = new Headers(previous.headers);
  if (from.origin !== to.origin) for (const name of CREDENTIAL_HEADERS) headers.delete(name);
  const becomesGet = status === 303 ? previous.method !== "HEAD" : (status === 301 || status === 302) && previous.method === "POST";
  if (becomesGet) {
    headers.delete("content-type");
    headers.delete("content-length");
    return { method: "GET", headers, body: null };
  }
  if (previous.body !== null) throw new FanoutError("redirect_blocked", `a ${status} redirect of a request with a body cannot be replayed`);
  return { method: previous.method, headers, body: null };
}

async function send(fetcher: Fetcher, url: string, init: RequestInit, signal: AbortSignal | undefined): Promise<Response> {
  try {
    return await fetcher(url, init);
  } catch (error) {
    if (signal?.aborted) throw abortReason(signal);
    if (isFanoutError(error)) throw error;
    throw new FanoutError("network", "could not reach the upstream", { cause: error });
  }
}

/** A shared allowance of bytes (a `Budget` from lib/async/budget.ts fits). */
export interface ByteBudget {
  readonly limit: number;
  /** Takes `amount` if it fits; false (and nothing taken) if it does not. */
  tryTake(amount: number): boolean;
}

/** How much of a body may be read: its own cap, and optionally a budget shared with other reads. */
export interface ReadLimits {
  /** This body's own cap in bytes. */
  maxBytes: number;
  /** The setting behind `maxBytes`, named in the error (e.g. MAX_STEP_RESPONSE_BYTES). */
  maxName?: string;
  /**
   * Charged as bytes arrive (each chunk, or a declared Content-Length up front), so reads running
   * at the same time can never take more than it holds in total.
   */
  budget?: ByteBudget;
  /** The setting behind `budget`, named in the error (e.g. MAX_BATCH_RESPONSE_BYTES). */
  budgetName?: string;
  signal?: AbortSignal;
}

/** The `response_too_large` error for a body over its own cap. */
export function overLimit(maxBytes: number, maxName?: string): FanoutError {
  return new FanoutError("response_too_large", `the body exceeds the limit of ${maxBytes} bytes${maxName ? ` (${maxName})` : ""}`);
}

/** The `response_too_large` error for a read the shared budget refused. */
export function overBudget(budget: ByteBudget, budgetName = "the shared byte budget"): FanoutError {
  return new FanoutError("response_too_large", `the responses together exceed ${budgetName} (${budget.limit} bytes)`);
}

/**
 * Reads a body, refusing (and cancelling the stream) once it passes `maxBytes` or the shared budget
 * refuses a chunk: a large answer is never buffered beyond the limit.
 * @throws FanoutError `response_too_large` naming the limit; `network` when the connection fails;
 * the abort reason when `signal` aborts.
 */
export async function readBodyLimited(response: Response, limits: ReadLimits): Promise<Uint8Array> {
  const { maxBytes, maxName, budget, budgetName, signal } = limits;
  const declared = Number(response.headers.get("content-length"));
  const hasDeclared = response.headers.has("content-length") && Number.isFinite(declared);
  if (hasDeclared && declared > maxBytes) {
    await response.body?.cancel();
    throw overLimit(maxBytes, maxName);
  }
  if (!response.body) return new Uint8Array();
  // A declared length within the limit is charged up front and read natively in one go; the runtime enforces the length.
  if (hasDeclared && !response.headers.has("content-encoding")) {
    if (budget && !budget.tryTake(declared)) {
      await response.body.cancel();
      throw overBudget(budget, budgetName);
    }
    try {
      return new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      if (signal?.aborted) throw abortReason(signal);
      throw new FanoutError("network", "the upstream connection failed while reading the body", { cause: error });
    }
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      if (signal?.aborted) throw abortReason(signal);
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) throw overLimit(maxBytes, maxName);
      if (budget && !budget.tryTake(value.byteLength)) throw overBudget(budget, budgetName);
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    if (signal?.aborted) throw abortReason(signal);
    if (isFanoutError(error)) throw error;
    throw new FanoutError("network", "the upstream connection failed while reading the body", { cause: error });
  } finally {
    reader.releaseLock();
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** A strong ETag from a body's bytes (composite answers, /openapi.json). */
export async function etagOf(body: string): Promise<string> {
  return `"${(await sha256Hex(body)).slice(0, 32)}"`;
}

/** Whether an If-None-Match header matches the ETag (weak comparison, lists and `*`, as RFC 9110 says for GET). */
export function matchesIfNoneMatch(header: string | undefined | null, etag: string): boolean {
  if (!header) return false;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, "");
  return header.split(",").some((tag) => tag.trim() === "*" || opaque(tag) === opaque(etag));
}
