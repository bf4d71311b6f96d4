import { sha256Hex } from "../base/bytes";
import type { CachePolicy, CompositeDefinition, CompositeInputs } from "./definition";

/**
 * A composite's answers in the Cache API: the key, freshness (fresh, stale within the SWR window,
 * expired), the ETag, RFC 9211 Cache-Status, and the per-isolate gate that keeps background
 * refreshes to one per key at a time.
 */

const STORED_AT = "fanout-stored-at";
/** Marks a stored 404 (its body is the problem's detail and invalidParams), kept for the policy's negativeTtlSeconds. */
const NOT_FOUND = "fanout-not-found";
/** The steps that fell back in a stored answer (comma-separated), kept for the policy's fallbackTtlSeconds and named again on a hit. */
const FELL_BACK = "fanout-fell-back";
/** Each forwarded upstream header is stored under this prefix and replayed on a hit. */
const FORWARDED = "fanout-forwarded-";

/** Each composite's declaration digest, per isolate (pure data): a changed declaration never reads old cache entries. */
const versions = new WeakMap<CompositeDefinition, string>();

/** The digest of a composite's declaration that its cache keys carry (computed once per definition object). */
export async function versionOf(definition: CompositeDefinition): Promise<string> {
  let version = versions.get(definition);
  if (version === undefined) {
    version = (await sha256Hex(JSON.stringify(definition))).slice(0, 16);
    versions.set(definition, version);
  }
  return version;
}

/** One stored answer: the document's JSON text, its ETag and when it was stored (ms since the epoch). */
export interface CachedAnswer {
  body: string;
  etag: string;
  storedAt: number;
  /** A stored 404: `body` is `{ detail, invalidParams }`, not a document. */
  notFound?: boolean;
  /** The steps whose fallback data the document holds (`fanout-fallback`). */
  fallback?: string[];
  /** The forwarded upstream headers the answer carries. */
  headers?: Record<string, string>;
}

/**
 * How long an answer stays fresh and then stale-while-revalidate: a 404 only for negativeTtlSeconds,
 * an answer with fallbacks only for fallbackTtlSeconds, neither ever stale (a degraded answer is not kept past its time).
 */
export function lifetimeOf(policy: CachePolicy, answer: Pick<CachedAnswer, "notFound" | "fallback">): { ttl: number; swr: number } {
  if (answer.notFound) return { ttl: policy.negativeTtlSeconds ?? 0, swr: 0 };
  if (answer.fallback?.length) return { ttl: policy.fallbackTtlSeconds ?? 0, swr: 0 };
  return { ttl: policy.ttlSeconds, swr: policy.staleWhileRevalidateSeconds };
}

/** What a stored answer's headers say besides its body: whether it is a 404, which steps fell back, what it forwards. */
function storedParts(headers: Headers): Pick<CachedAnswer, "notFound" | "fallback" | "headers"> {
  const forwarded: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (name.startsWith(FORWARDED)) forwarded[name.slice(FORWARDED.length)] = value;
  });
  const fallback = headers.get(FELL_BACK);
  return {
    ...(headers.has(NOT_FOUND) ? { notFound: true } : {}),
    ...(fallback ? { fallback: fallback.split(",") } : {}),
    ...(Object.keys(forwarded).length > 0 ? { headers: forwarded } : {}),
  };
}

/**
 * The request headers a composite's answer depends on (its `Vary`): every header its steps may read
 * (the cache's varied headers are among them), and Authorization when the cache is keyed per API key.
 */
export function varyOf(definition: CompositeDefinition): string[] {
  return [
    ...new Set([...definition.headers, ...(definition.cache?.vary ?? []), ...(definition.cache?.perApiKey ? ["authorization"] : [])]),
  ];
}

export type Freshness = "fresh" | "stale";

export interface CacheLookup {
  answer: CachedAnswer;
  freshness: Freshness;
  /** Whole seconds since the answer was stored (the `Age` header). */
  ageSeconds: number;
  /** Seconds of freshness left; negative once stale (Cache-Status `ttl`). */
  ttlSeconds: number;
}

export interface CacheKeyParts {
  /** The origin the Worker answers on: Cloudflare keys its cache per zone, so the key stays in ours. */
  origin: string;
  composite: string;
  /** A digest of the composite's declaration: a changed composite never reads its old answers. */
  version: string;
  inputs: CompositeInputs;
  /** The headers the policy varies on (names lower case). */
  vary: readonly string[];
  /** The API key id, when the policy keys per key (never the key itself). */
  keyId?: string;
}

/**
 * The cache key: a URL under the Worker's own origin built from the composite, its version, every
 * validated param (sorted, so order never splits the cache) and the varied headers.
 */
export function cacheKeyUrl({ origin, composite, version, inputs, vary, keyId }: CacheKeyParts): string {
  const url = new URL(`/__fanout-cache/composites/${encodeURIComponent(composite)}/${version}`, origin);
  for (const name of Object.keys(inputs.params).sort()) url.searchParams.set(`p.${name}`, String(inputs.params[name]));
  for (const name of [...vary].sort()) url.searchParams.set(`h.${name}`, inputs.headers[name] ?? "");
  if (keyId !== undefined) url.searchParams.set("k", keyId);
  return url.href;
}

/** Reads an answer that is still fresh or within its stale-while-revalidate window. */
export async function lookup(cache: Cache, key: string, policy: CachePolicy, now = Date.now()): Promise<CacheLookup | undefined> {
  const response = await cache.match(key);
  if (!response) return undefined;
  // Number(null) and Number("") are 0: an entry without the header is not ours, whatever the clock says.
  const storedAt = Number(response.headers.get(STORED_AT) || Number.NaN);
  const etag = response.headers.get("etag");
  if (!Number.isFinite(storedAt) || !etag) {
    await response.body?.cancel();
    return undefined;
  }
  const parts = storedParts(response.headers);
  const { ttl, swr } = lifetimeOf(policy, parts);
  const ageMs = Math.max(0, now - storedAt);
  const ageSeconds = Math.floor(ageMs / 1000);
  // Negative as soon as the answer is stale, however briefly (RFC 9211's ttl).
  const ttlSeconds = Math.floor((ttl * 1000 - ageMs) / 1000);
  if (ageMs >= (ttl + swr) * 1000) {
    await response.body?.cancel();
    return undefined;
  }
  const answer = { body: await response.text(), etag, storedAt, ...parts };
  return { answer, freshness: ageMs < ttl * 1000 ? "fresh" : "stale", ageSeconds, ttlSeconds };
}

/**
 * Stores an answer for its freshness plus its SWR window (the Cache API drops it after that); a 404
 * only under negativeTtlSeconds, an answer with fallbacks only under fallbackTtlSeconds.
 */
export async function store(cache: Cache, key: string, answer: CachedAnswer, policy: CachePolicy): Promise<void> {
  const { ttl, swr } = lifetimeOf(policy, answer);
  if (ttl <= 0) return;
  const keepSeconds = ttl + swr;
  await cache.put(
    key,
    new Response(answer.body, {
      headers: {
        "content-type": "application/json",
        etag: answer.etag,
        [STORED_AT]: String(answer.storedAt),
        ...(answer.notFound ? { [NOT_FOUND]: "1" } : {}),
        ...(answer.fallback?.length ? { [FELL_BACK]: answer.fallback.join(",") } : {}),
        ...Object.fromEntries(Object.entries(answer.headers ?? {}).map(([name, value]) => [FORWARDED + name, value])),
        "cache-control": `public, max-age=${keepSeconds}`,
      },
    }),
  );
}

/** RFC 9211 Cache-Status for a composite's answer. */
export function cacheStatus(state: { hit: CacheLookup } | { miss: "uri-miss" | "bypass"; stored: boolean }, cacheName = "fanout"): string {
  if ("hit" in state) {
    const { freshness, ttlSeconds } = state.hit;
    return `${cacheName}; hit; ttl=${ttlSeconds}${freshness === "stale" ? "; detail=stale-while-revalidate" : ""}`;
  }
  return `${cacheName}; fwd=${state.miss}${state.stored ? "; stored" : ""}`;
}

/**
 * At most one background refresh per key at a time in this isolate. Pure data (keys and start
 * times, never promises), so it is safe to keep across requests; a refresh that never reported back
 * (its waitUntil was cut short) stops blocking after `staleAfterMs`.
 */
export class RefreshGate {
  readonly #started = new Map<string, number>();

  constructor(
    private readonly staleAfterMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(staleAfterMs > 0)) throw new RangeError("staleAfterMs must be > 0");
  }

  /** True when the caller may refresh `key` now (and must call `finish(key)` when done). */
  tryBegin(key: string): boolean {
    const started = this.#started.get(key);
    if (started !== undefined && this.now() - started < this.staleAfterMs) return false;
    this.#started.set(key, this.now());
    return true;
  }

  finish(key: string): void {
    this.#started.delete(key);
  }

  get size(): number {
    return this.#started.size;
  }
}
