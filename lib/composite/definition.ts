import type { BatchMode } from "../batch/scheduler";
import type { StepInput } from "../batch/steps/types";

/**
 * A composite: a named GET endpoint that a platform team declares (functions/composites.jsonc) and
 * fanout serves as a validated, shaped and cached batch. catalog.ts (params.ts for the params) validates
 * declarations into exactly these types.
 */

export const PARAM_TYPES = ["string", "integer", "number", "boolean"] as const;
export type ParamType = (typeof PARAM_TYPES)[number];
export type ParamValue = string | number | boolean;

/** One declared path or query parameter: a type, bounds and a default. */
export interface ParamSpec {
  in: "path" | "query";
  type: ParamType;
  description?: string;
  /** Path parameters are always required; a query parameter without a default is optional unless this is true. */
  required: boolean;
  default?: ParamValue;
  /** Bounds: the value for numbers, the length for strings. */
  min?: number;
  max?: number;
  /** Strings: a regular expression the whole value must match. */
  pattern?: string;
  /** Strings: the only values allowed. */
  enum?: string[];
}

/** How one step's body lands in the document (KrakenD's target, allow, deny, mapping and group). */
export interface ShapeRule {
  /** A path into the step's body (`data.user`, `results[0]`): only that part is kept. */
  target?: string;
  /** Keep only these field paths (`id`, `address.city`); on a collection, of each element. */
  allow?: string[];
  /** Drop these field paths; on a collection, from each element. */
  deny?: string[];
  /** Rename top-level fields (`{ "name": "displayName" }`); on a collection, of each element. */
  rename?: Record<string, string>;
  /** The document key the body goes under (default: the step id). */
  group?: string;
  /** Merge the body's fields into the document's root instead of grouping it (the body must be an object). */
  merge?: boolean;
}

/**
 * The answer's shape: per-step rules, then fields built from templates (`"orderIds": "{{orders.body[*].id}}"`);
 * a field written `{ "concat": [source, ...] }` appends the arrays its sources render to (concat.ts).
 */
export interface OutputSpec {
  steps?: Record<string, ShapeRule>;
  fields?: Record<string, unknown>;
}

export interface CachePolicy {
  ttlSeconds: number;
  staleWhileRevalidateSeconds: number;
  /** Allowed request headers that key the cache (every validated param always does). */
  vary: string[];
  /** Key the cache per API key id too (only for `auth: "apiKey"` composites whose answer depends on the caller). */
  perApiKey: boolean;
  /** How long a 404 (a `notFoundWhen` or a passed-through 404) is cached; without it a 404 is never cached. */
  negativeTtlSeconds?: number;
  /** How long an answer in which a step fell back (`fallback`) is cached, never stale; without it such an answer is `no-store`. */
  fallbackTtlSeconds?: number;
}

/** The upstream 4xx statuses a required http step may pass through as the composite's answer (`passStatus`). */
export const PASS_STATUSES = [404, 409, 410, 422] as const;
export type PassStatus = (typeof PASS_STATUSES)[number];

/**
 * When a required step's success means "nothing there" (404): `"empty"` when its body is null or `[]`;
 * `{ "empty": "[0]" }` when that path into the body is missing, null or `[]`.
 */
export type NotFoundRule = "empty" | { empty: string };

/**
 * An optional step's stand-in body: used, as if the step had answered it, when the step fails (the
 * answer names it in `fanout-fallback`), and when a false `when` skips it if `whenSkipped` is true.
 */
export interface StepFallback {
  data?: unknown;
  whenSkipped: boolean;
}

export interface CompositeStep extends StepInput {
  /** A required step that fails fails the answer (502, or 504 on timeout); an optional one is left out and named in fanout-incomplete. */
  required: boolean;
  /** A required step's empty result answers 404 naming the step and the params it read (instead of 502 or an empty field). */
  notFoundWhen?: NotFoundRule;
  /** A required http step's upstream status among these answers as that status (a sanitised detail) instead of 502. */
  passStatus?: PassStatus[];
  /** An optional step's data when it fails (or, if declared, when its condition skips it). */
  fallback?: StepFallback;
}

export interface CompositeDefinition {
  name: string;
  /** Below the composites prefix: `home`, `users/:id/summary`. */
  path: string;
  summary?: string;
  description?: string;
  /**
   * `none`: public, so (like every public route) it calls no upstream: its http steps may only be
   * in-process `/v1/sim/` URLs, and no step kind writes storage.
   */
  auth: "none" | "apiKey";
  /** Part of the demo surface: served only when DEMO_ENABLED is on (404 otherwise). */
  demo: boolean;
  params: Record<string, ParamSpec>;
  /** Request headers (lower case) steps may read as `{{headers.name}}`; no other header is visible to steps. */
  headers: string[];
  steps: CompositeStep[];
  mode: BatchMode;
  concurrency?: number;
  deadlineMs?: number;
  output?: OutputSpec;
  /** Upstream response headers passed on to the client: header name (lower case) -> the http step it is read from. */
  forwardHeaders?: Record<string, string>;
  cache?: CachePolicy;
}

/** What a composite's steps and output may read besides step results. */
export interface CompositeInputs {
  params: Record<string, ParamValue>;
  query: Record<string, ParamValue>;
  headers: Record<string, string>;
}
