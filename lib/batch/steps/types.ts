import { type FanoutError, isStepErrorCode, type StepErrorCode } from "../../base/errors";
import type { STEP_KIND_MODULES } from "./index";
import type { SpecOf } from "./kind";

/**
 * What a step is and what it gives back. Each kind declares its spec in its own module
 * (lib/batch/steps/<kind>.ts, listed in steps/index.ts); the types here are derived from that list.
 */

export type { CacheSpec } from "./cache";
export type { D1Spec } from "./d1";
export type { HttpMethod, HttpSpec } from "./http";
export type { KvSpec } from "./kv";
export type { R2Spec } from "./r2";
export type { WaitSpec } from "./wait";

type KindModule = (typeof STEP_KIND_MODULES)[number];

/** The kinds of the registry (steps/index.ts). */
export type StepKind = KindModule["kind"];

/** Each kind's spec, as its module declares it. */
export type SpecByKind = { [M in KindModule as M["kind"]]: SpecOf<M> };

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
