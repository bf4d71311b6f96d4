import { type FanoutError, isStepErrorCode, type StepErrorCode } from "../../base/errors";

/**
 * The contract between the batch route and the step executors: what each step kind takes. The
 * route's zod schemas are checked against these types at compile time (functions/batch-schema.ts),
 * so validation and execution cannot drift apart.
 */

export const STEP_KINDS = ["http", "kv", "r2", "d1", "cache", "wait"] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS";

export interface HttpSpec {
  url: string;
  method: HttpMethod;
  headers?: Record<string, string>;
  /** A string is sent as text; anything else as JSON. */
  body?: unknown;
  timeoutMs?: number;
  retry?: { attempts: number; baseDelayMs?: number; maxDelayMs?: number };
  hedge?: { afterMs: number };
  /** Keep only these dot paths of a JSON body. */
  pick?: string[];
  idempotencyKey?: string;
  maxRedirects: number;
}

export interface KvSpec {
  key?: string;
  keys?: string[];
  type: "text" | "json";
}

export interface R2Spec {
  key: string;
  head?: boolean;
  range?: { offset: number; length?: number };
  as: "text" | "json" | "base64" | "metadata";
}

export interface D1Spec {
  query: string;
  params?: Array<string | number | boolean | null>;
}

export interface CacheSpec {
  url: string;
  as?: "text" | "json";
}

export interface WaitSpec {
  ms: number;
}

export interface SpecByKind {
  http: HttpSpec;
  kv: KvSpec;
  r2: R2Spec;
  d1: D1Spec;
  cache: CacheSpec;
  wait: WaitSpec;
}

/** One step as the client wrote it (after validation): an id and exactly one kind. */
export type StepInput = {
  id: string;
  dependsOn?: string[];
  /** A reference to an array (`{{posts.body[*].id}}`) or a literal array. */
  forEach?: string | unknown[];
  /** Expected duration of one execution in ms (0..300000), for scheduling: a hint, never a limit. */
  expectedMs?: number;
} & { [K in StepKind]?: SpecByKind[K] };

/** What an executor returns. `ok: false` with data (an upstream 503, say) carries `error` too. */
export interface StepOutput {
  ok: boolean;
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  error?: StepError;
  attempts?: number;
  hedged?: boolean;
  coalesced?: boolean;
  bytes?: number;
}

export interface StepError {
  /** One of STEP_ERROR_CODES (lib/base/errors.ts), the list the README and the OpenAPI enum show. */
  code: StepErrorCode;
  message: string;
  /** For `skipped`: the dependency that did not succeed. */
  dependency?: string;
}

/** A step's error as its result shows it; a code outside STEP_ERROR_CODES is a bug, reported as `internal`. */
export function stepErrorOf(error: FanoutError): StepError {
  return isStepErrorCode(error.code) ? { code: error.code, message: error.detail } : { code: "internal", message: "internal error" };
}

/** The one kind a validated step has. @throws Error when it has none or several (the schema prevents that). */
export function stepKind(step: StepInput): StepKind {
  const kinds = STEP_KINDS.filter((kind) => step[kind] !== undefined);
  if (kinds.length !== 1) throw new Error(`step ${step.id} must have exactly one of ${STEP_KINDS.join(", ")}`);
  return kinds[0]!;
}
