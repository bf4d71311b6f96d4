import { MAX_REDIRECTS } from "../base/limits";
import { BATCH_MODES, type BatchMode } from "./outcome";
import type { BatchRequestBody } from "./schema";
import { HTTP_METHODS, type HttpMethod } from "./steps/http-call";

/**
 * The common batch, checked by hand: steps that are plain `http` calls (an id, a url, maybe a method
 * and maxRedirects, dependsOn and expectedMs) and the plain options. zod runs without its compiled fast path on Workers
 * (no `new Function`), so checking a 100-step batch field by field through its schema is a real share
 * of a request's CPU; this accepts exactly what lib/batch/schema.ts's BatchRequest accepts for that
 * shape and gives the same value, and answers `undefined` for anything else (another kind, another
 * field, any doubt), which zod then checks and words the errors for. A fuzz property holds the two
 * equal (test/fuzz/common-batch.fuzz.test.ts).
 */

const STEP_ID = /^[A-Za-z0-9_-]{1,64}$/;
const ABSOLUTE_HTTP = /^https?:\/\//i;
const BATCH_KEYS = new Set(["steps", "mode", "concurrency", "deadlineMs"]);
const STEP_KEYS = new Set(["id", "http", "dependsOn", "expectedMs"]);
const HTTP_KEYS = new Set(["url", "method", "maxRedirects"]);
const METHODS: ReadonlySet<string> = new Set(HTTP_METHODS);
const MODES: ReadonlySet<string> = new Set(BATCH_MODES);

type CommonStep = BatchRequestBody["steps"][number];

/** A plain object (what JSON.parse makes), with only keys from `allowed`. */
function isPlainWith(value: unknown, allowed: ReadonlySet<string>): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  for (const key in value) if (!allowed.has(key)) return false;
  return true;
}

const isIntegerIn = (value: unknown, min: number, max: number): value is number =>
  typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;

function httpSpecOf(value: unknown): CommonStep["http"] | undefined {
  if (!isPlainWith(value, HTTP_KEYS)) return undefined;
  const { url, method, maxRedirects = MAX_REDIRECTS } = value;
  if (typeof url !== "string" || url.length < 1 || url.length > 4096) return undefined;
  if (!url.startsWith("/v1/sim/") && !ABSOLUTE_HTTP.test(url) && !url.startsWith("{{")) return undefined;
  if (method !== undefined && (typeof method !== "string" || !METHODS.has(method))) return undefined;
  if (!isIntegerIn(maxRedirects, 0, MAX_REDIRECTS)) return undefined;
  return { url, method: (method as HttpMethod | undefined) ?? "GET", maxRedirects };
}

function stepOf(value: unknown): CommonStep | undefined {
  if (!isPlainWith(value, STEP_KEYS)) return undefined;
  const { id, dependsOn, expectedMs } = value;
  if (typeof id !== "string" || !STEP_ID.test(id)) return undefined;
  const http = httpSpecOf(value.http);
  if (http === undefined) return undefined;
  const step: CommonStep = { id, http };
  if (dependsOn !== undefined) {
    if (!Array.isArray(dependsOn) || dependsOn.length > 100) return undefined;
    for (const other of dependsOn) if (typeof other !== "string" || !STEP_ID.test(other)) return undefined;
    step.dependsOn = [...dependsOn];
  }
  if (expectedMs !== undefined) {
    if (!isIntegerIn(expectedMs, 0, 300_000)) return undefined;
    step.expectedMs = expectedMs;
  }
  return step;
}

/**
 * The common batch's validated value (as BatchRequest.parse gives it), or undefined when the body
 * is not of the common shape or is invalid: then zod decides and explains.
 */
export function parseCommonBatch(value: unknown): BatchRequestBody | undefined {
  if (!isPlainWith(value, BATCH_KEYS)) return undefined;
  const { steps, mode, concurrency, deadlineMs } = value;
  if (!Array.isArray(steps) || steps.length === 0) return undefined;
  if (mode !== undefined && (typeof mode !== "string" || !MODES.has(mode))) return undefined;
  if (concurrency !== undefined && !isIntegerIn(concurrency, 1, Number.MAX_SAFE_INTEGER)) return undefined;
  if (deadlineMs !== undefined && !isIntegerIn(deadlineMs, 1, Number.MAX_SAFE_INTEGER)) return undefined;
  const parsed: CommonStep[] = [];
  for (const input of steps) {
    const step = stepOf(input);
    if (step === undefined) return undefined;
    parsed.push(step);
  }
  const body: BatchRequestBody = { steps: parsed, mode: (mode as BatchMode | undefined) ?? "allSettled" };
  if (concurrency !== undefined) body.concurrency = concurrency as number;
  if (deadlineMs !== undefined) body.deadlineMs = deadlineMs as number;
  return body;
}
