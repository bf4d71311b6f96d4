import type { BulkOption } from "../bulk";
import type { SpecByKind, StepKind } from "./index";

/**
 * What a step is and what it gives back. Each kind declares its spec in its own module
 * (lib/batch/steps/<kind>.ts, listed in steps/index.ts); the types here are derived from that list.
 */

export type { CacheSpec } from "./cache";
export type { D1Spec } from "./d1";
export type { HttpMethod, HttpSpec } from "./http";
export type { SpecByKind, StepKind } from "./index";
export type { KvSpec } from "./kv";
export { type StepError, type StepOutput, stepErrorOf } from "./output";
export type { R2Spec } from "./r2";
export type { WaitSpec } from "./wait";

/** One step as the client wrote it (after validation): an id and exactly one kind. */
export type StepInput = {
  id: string;
  dependsOn?: string[];
  /** A reference to an array (`{{posts.body[*].id}}`) or a literal array. */
  forEach?: string | unknown[];
  /** An http forEach's items sent `size` at a time in bulk calls (lib/batch/bulk.ts). */
  batch?: BulkOption;
  /** Expected duration of one execution in ms (0..300000), for scheduling: a hint, never a limit. */
  expectedMs?: number;
  /** Run only when this condition holds (lib/batch/condition.ts), evaluated once its dependencies have settled. */
  when?: string;
} & { [K in StepKind]?: SpecByKind[K] };
