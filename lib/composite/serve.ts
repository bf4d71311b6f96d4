import { runAfterResponse, type WaitUntil } from "../async/after";
import type { Config } from "../base/config";
import { FanoutError } from "../base/errors";
import { etagOf } from "../base/http";
import { describeError, type Logger } from "../base/log";
import type { Plan } from "../batch/plan";
import type { BatchOutcome } from "../batch/scheduler";
import { type BatchHost, type BatchRequestInput, executeBatch, planBatch } from "../batch/service";
import { INPUT_ROOTS } from "../batch/template";
import { type CachedAnswer, type CacheLookup, cacheStatus, lifetimeOf, lookup, RefreshGate, store } from "./cache";
import type { CachePolicy, CompositeDefinition, CompositeInputs } from "./definition";
import { type ShapedAnswer, shapeDocument } from "./shape";

/**
 * Serving a composite: its batch planned against configuration, run with the request's values bound,
 * shaped into a document, and cached (fresh hits answer without a call; stale hits answer at once
 * and refresh after the response; misses store after the response; partial answers are never stored,
 * answers with fallback data only under the policy's fallbackTtlSeconds).
 */

/** The batch a composite runs. */
export function batchOf(definition: CompositeDefinition): BatchRequestInput {
  return {
    steps: definition.steps,
    mode: definition.mode,
    ...(definition.concurrency === undefined ? {} : { concurrency: definition.concurrency }),
    ...(definition.deadlineMs === undefined ? {} : { deadlineMs: definition.deadlineMs }),
  };
}

/**
 * Plans a composite's batch against configuration. A failure is the operator's, never the caller's:
 * @throws FanoutError `not_configured` naming the composite (the reasons are in its invalidParams, for logs).
 */
export function planComposite(definition: CompositeDefinition, config: Config): Plan {
  try {
    return planBatch(batchOf(definition), config, { inputRoots: INPUT_ROOTS });
  } catch (error) {
    const reasons = error instanceof FanoutError ? error.invalidParams : [];
    throw new FanoutError("not_configured", `composite "${definition.name}" does not fit this configuration: ${(error as Error).message}`, {
      cause: error,
      invalidParams: reasons,
      safeDetail: `the composite "${definition.name}" is not configured correctly`,
    });
  }
}

/** Runs a planned composite once: the batch outcome and, when every required step succeeded, the shaped answer. */
export async function runComposite(
  definition: CompositeDefinition,
  plan: Plan,
  inputs: CompositeInputs,
  host: BatchHost,
): Promise<{ outcome: BatchOutcome; shaped: ShapedAnswer | FanoutError }> {
  const outcome = await executeBatch(batchOf(definition), plan, host, { inputs: { ...inputs } });
  try {
    return { outcome, shaped: shapeDocument(definition, outcome, inputs) };
  } catch (error) {
    if (error instanceof FanoutError) return { outcome, shaped: error };
    throw error;
  }
}

/** A composite's answer, ready to render. */
export interface CompositeAnswer {
  body: string;
  etag: string;
  incomplete: string[];
  /** Optional steps whose fallback data stands in (`fanout-fallback`). */
  fallback: string[];
  /** Upstream response headers the composite forwards, by lower-case name. */
  forwarded: Record<string, string>;
  cacheControl: string;
  /** RFC 9211 Cache-Status (absent when the composite is not cached). */
  cacheStatus?: string;
  /** Seconds since a cached answer was stored (`Age`). */
  ageSeconds?: number;
  /** The steps' results when the composite ran for this request (Server-Timing). */
  steps?: BatchOutcome["results"];
}

export interface CompositeCache {
  cache: Cache;
  key: string;
  policy: CachePolicy;
}

export interface ServeOptions {
  plan: Plan;
  inputs: CompositeInputs;
  host: BatchHost;
  /** Where answers are cached; absent when the composite has no cache policy. */
  cache?: CompositeCache;
  waitUntil: WaitUntil;
  logger: Logger;
  requestId: string;
}

/** Background refreshes in flight in this isolate (pure data: keys and times). */
const refreshes = new RefreshGate(30_000);

const audienceOf = (definition: CompositeDefinition) => (definition.auth === "none" ? "public" : "private");

/**
 * The answer's Cache-Control, from the lifetime the cache keeps it for (lifetimeOf: an answer with
 * fallbacks only under fallbackTtlSeconds, never stale): `secondsLeft` of freshness at most.
 */
function cacheControlOf(
  definition: CompositeDefinition,
  policy: CachePolicy | undefined,
  answer: Pick<CachedAnswer, "fallback">,
  secondsLeft: number,
): string {
  if (!policy) return "no-store";
  const { ttl, swr } = lifetimeOf(policy, answer);
  if (ttl <= 0) return "no-store";
  const maxAge = `${audienceOf(definition)}, max-age=${Math.max(0, Math.min(secondsLeft, ttl))}`;
  return answer.fallback?.length ? maxAge : `${maxAge}, stale-while-revalidate=${swr}`;
}

async function answerOf(shaped: Pick<ShapedAnswer, "document"> & Partial<ShapedAnswer>): Promise<CachedAnswer> {
  const body = JSON.stringify(shaped.document);
  return {
    body,
    etag: await etagOf(body),
    storedAt: Date.now(),
    ...(shaped.fallback?.length ? { fallback: shaped.fallback } : {}),
    ...(shaped.headers && Object.keys(shaped.headers).length > 0 ? { headers: shaped.headers } : {}),
  };
}

/**
 * Answers a composite from the cache or by running it.
 * @throws FanoutError when a required step failed (502, 504 on timeout) or shaping a required result found nothing.
 */
export async function serveComposite(definition: CompositeDefinition, options: ServeOptions): Promise<CompositeAnswer> {
  const { cache, logger, requestId } = options;
  let hit: CacheLookup | undefined;
  if (cache) {
    try {
      hit = await lookup(cache.cache, cache.key, cache.policy);
    } catch (error) {
      // A cache that fails never fails the request: it runs uncached.
      logger.log("warn", "composite cache read failed", { requestId, composite: definition.name, ...describeError(error) });
    }
  }
  if (cache && hit?.answer.notFound) throw cachedNotFound(definition, cache.policy, hit);
  if (cache && hit) {
    if (hit.freshness === "stale") refreshAfterResponse(definition, cache, options);
    return {
      body: hit.answer.body,
      etag: hit.answer.etag,
      incomplete: [],
      fallback: hit.answer.fallback ?? [],
      forwarded: hit.answer.headers ?? {},
      cacheControl: cacheControlOf(definition, cache.policy, hit.answer, hit.ttlSeconds),
      cacheStatus: cacheStatus({ hit }),
      ageSeconds: hit.ageSeconds,
    };
  }

  const { outcome, shaped } = await runComposite(definition, options.plan, options.inputs, options.host);
  if (shaped instanceof FanoutError) throw await refusal(definition, shaped, options);
  const answer = await answerOf(shaped);
  // A partial answer is never cached, by us or by anyone downstream; one with fallbacks only if the policy says for how long.
  const cacheControl =
    shaped.incomplete.length === 0 ? cacheControlOf(definition, cache?.policy, answer, cache?.policy.ttlSeconds ?? 0) : "no-store";
  const storable = cacheControl !== "no-store";
  if (cache && storable) storeAfterResponse(cache, answer, options);
  return {
    body: answer.body,
    etag: answer.etag,
    incomplete: shaped.incomplete,
    fallback: shaped.fallback,
    forwarded: shaped.headers,
    cacheControl,
    ...(cache ? { cacheStatus: cacheStatus({ miss: "uri-miss", stored: storable }) } : {}),
    steps: outcome.results,
  };
}

/**
 * A composite's 4xx answer (a `notFoundWhen` or a passed-through status): `no-store`, except a 404
 * under a policy with negativeTtlSeconds, which is stored for that long. 5xx answers are as they were.
 */
async function refusal(definition: CompositeDefinition, error: FanoutError, options: ServeOptions): Promise<FanoutError> {
  if (error.status >= 500) return error;
  const { cache } = options;
  const negativeTtl = error.status === 404 ? cache?.policy.negativeTtlSeconds : undefined;
  if (cache === undefined || negativeTtl === undefined) {
    Object.assign(error.headers, { "cache-control": "no-store" });
    return error;
  }
  const problem = JSON.stringify({ detail: error.detail, invalidParams: error.invalidParams });
  storeAfterResponse(cache, { ...(await answerOf({ document: {} })), body: problem, notFound: true }, options);
  Object.assign(error.headers, {
    "cache-control": `${audienceOf(definition)}, max-age=${negativeTtl}`,
    "cache-status": cacheStatus({ miss: "uri-miss", stored: true }),
  });
  return error;
}

/** A stored 404, answered again with its age. */
function cachedNotFound(definition: CompositeDefinition, policy: CachePolicy, hit: CacheLookup): FanoutError {
  const { detail, invalidParams } = JSON.parse(hit.answer.body) as { detail: string; invalidParams: FanoutError["invalidParams"] };
  return new FanoutError("not_found", detail, {
    invalidParams,
    headers: {
      "cache-control": `${audienceOf(definition)}, max-age=${Math.max(0, Math.min(hit.ttlSeconds, policy.negativeTtlSeconds ?? 0))}`,
      "cache-status": cacheStatus({ hit }),
      age: String(hit.ageSeconds),
    },
  });
}

function storeAfterResponse(cache: CompositeCache, answer: CachedAnswer, { waitUntil, logger, requestId }: ServeOptions): void {
  runAfterResponse(() => store(cache.cache, cache.key, answer, cache.policy), {
    waitUntil,
    task: "composite-cache-store",
    requestId,
    logger,
  });
}

/** What a refresh's run gives to store, or why it keeps the stale answer: it failed, is partial, or fell back without a fallbackTtlSeconds. */
function refreshed(shaped: ShapedAnswer | FanoutError, policy: CachePolicy): ShapedAnswer | string {
  if (shaped instanceof FanoutError) return shaped.code;
  if (shaped.incomplete.length > 0) return `incomplete: ${shaped.incomplete.join(",")}`;
  if (lifetimeOf(policy, shaped).ttl <= 0) return `fallback: ${shaped.fallback.join(",")}`;
  return shaped;
}

/** One refresh per key at a time in this isolate; it runs the composite again (not tied to the client) and stores a complete answer. */
function refreshAfterResponse(definition: CompositeDefinition, cache: CompositeCache, options: ServeOptions): void {
  if (!refreshes.tryBegin(cache.key)) return;
  const { waitUntil, logger, requestId } = options;
  runAfterResponse(
    async (signal) => {
      try {
        const { shaped } = await runComposite(definition, options.plan, options.inputs, { ...options.host, signal });
        const answer = refreshed(shaped, cache.policy);
        if (typeof answer === "string") {
          logger.log("warn", "composite refresh kept the stale answer", { requestId, composite: definition.name, reason: answer });
          return;
        }
        await store(cache.cache, cache.key, await answerOf(answer), cache.policy);
      } finally {
        refreshes.finish(cache.key);
      }
    },
    { waitUntil, task: "composite-cache-refresh", requestId, logger },
  );
}
