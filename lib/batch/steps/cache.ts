import { z } from "zod";
import { readBodyLimited } from "../../base/http";
import { checkTarget } from "../../base/policy";
import { absoluteUrl } from "../in-process";
import { type BatchContext, type StepRun, stepReadLimits } from "./context";
import { demoUrlProblems, StepUrl } from "./fields";
import { parseStepJson } from "./json";
import { defineStepKind, ONE_SUBREQUEST } from "./kind";
import type { StepOutput } from "./output";
import { storageCall } from "./storage";

/** The cache step: a Cache API lookup by URL; the URL must pass the same allow-list as an upstream call. A miss is a 404. */

export interface CacheSpec {
  url: string;
  as?: "text" | "json";
}

export const CacheStep = z.object({ url: StepUrl, as: z.enum(["text", "json"]).optional() }).strict() satisfies z.ZodType<CacheSpec>;

/** What the cache step uses of its batch. */
export type CacheDeps = Pick<BatchContext, "bindings" | "allowList" | "maxStepResponseBytes" | "budgets">;

/** Looks `spec.url` up in the Cache API (a miss is `404 not_found`); failures are `storage_error`. */
export async function runCache(spec: CacheSpec, { deps, signal }: StepRun<CacheDeps>): Promise<StepOutput> {
  const url = checkTarget(absoluteUrl(spec.url), deps.allowList);
  const cached = await storageCall(
    () => deps.bindings.cache.match(new Request(url)),
    signal,
    () => `the Cache API lookup of ${url.href} failed`,
  );
  if (!cached) return { ok: false, status: 404, body: null, error: { code: "not_found", message: `cache miss for ${url.href}` } };
  const bytes = await readBodyLimited(cached, stepReadLimits(deps, signal));
  const text = new TextDecoder().decode(bytes);
  let body: unknown = text;
  if (spec.as === "json" || (spec.as === undefined && /json/.test(cached.headers.get("content-type") ?? ""))) {
    body = parseStepJson(text, `the cached body of ${url.href}`)?.value ?? text;
  }
  const headers: Record<string, string> = {};
  cached.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return { ok: cached.ok, status: cached.status, headers, body, bytes: bytes.byteLength };
}

export const cache = defineStepKind<"cache", CacheSpec, CacheDeps>({
  kind: "cache",
  schema: CacheStep,
  run: runCache,
  cost: ONE_SUBREQUEST,
  expectedMs: 10,
  check: (spec, config) => demoUrlProblems(spec.url, config),
  errors: ["forbidden_target", "not_found", "storage_error", "response_too_large"],
});
