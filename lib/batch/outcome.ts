import { z } from "zod";
import type { BatchContext, StepRun } from "./steps/context";
import type { SpecByKind, StepError, StepKind, StepOutput } from "./steps/types";

/** A batch's modes, options and results: what runBatch (scheduler.ts) takes and gives, and its parts share. */

/** When a batch stops: after every step (allSettled), at the first failure (all), the first success (any), the first result (race). */
export const BATCH_MODES = ["allSettled", "all", "any", "race"] as const;
export type BatchMode = (typeof BATCH_MODES)[number];

/** One forEach item's execution, as a forEach step's result lists it. */
export interface ItemResult {
  ok: boolean;
  status?: number;
  error?: StepError;
  attempts?: number;
  coalesced?: boolean;
}

/** A step's output with when it started and how long it took (ms since the batch started). */
export interface StepResult extends StepOutput {
  startMs: number;
  durationMs: number;
  /** forEach: one entry per item (their bodies are the step's `body`, in order). */
  items?: ItemResult[];
}

/** How a step can end; `failed` is a failure of the step itself, not a skip or a cancel. */
export const STEP_OUTCOMES = ["ok", "failed", "skipped", "cancelled"] as const;
export type StepOutcome = (typeof STEP_OUTCOMES)[number];

/**
 * Whether a result is a skip that follows from a false `when` (the step's own, or one its dependency
 * was skipped for): a decision, not a failure. Modes do not count it (it neither stops a batch nor
 * is its first result), and `completed` and `conditionMet` are about the other steps.
 */
export function skippedByCondition(result: Pick<StepResult, "error">): boolean {
  return result.error?.code === "skipped" && result.error.reason === "condition_false";
}

/** How many steps ended each way. */
export type StepCounts = Record<StepOutcome, number>;

/** Counts of nothing yet, to add to. */
export function noSteps(): StepCounts {
  return { ok: 0, failed: 0, skipped: 0, cancelled: 0 };
}

/** The schema of StepCounts with `count` for each outcome (the batch answer, audit records and their documents). */
export function stepCountsSchema(count: z.ZodNumber) {
  return z.object({ ok: count, failed: count, skipped: count, cancelled: count }) satisfies z.ZodType<StepCounts>;
}

/** What runBatch resolves with: every step's result, in plan order, and what they add up to. */
export interface BatchOutcome {
  mode: BatchMode;
  /** Every step succeeded (steps skipped by a false `when` aside). */
  completed: boolean;
  /**
   * What the mode asks for held, over the steps not skipped by a false `when`: all ok (all), one ok
   * (any), the first settled ok (race); always true for allSettled.
   */
  conditionMet: boolean;
  durationMs: number;
  counts: StepCounts;
  results: Record<string, StepResult>;
}

/** Executes one rendered step (executeStep unless a test substitutes its own). */
export type Executor = <K extends StepKind>(kind: K, spec: SpecByKind[K], run: StepRun) => Promise<StepOutput>;

/** How runBatch runs a plan. */
export interface RunBatchOptions {
  mode: BatchMode;
  concurrency: number;
  /** Steps allowed after forEach expansion. */
  maxSteps: number;
  batch: BatchContext;
  /** Called the moment each step settles, in settlement order (for streaming). */
  onSettle?: (id: string, result: StepResult) => void;
  /** Values references may read besides steps (a composite's `params`, `query`, `headers`). */
  inputs?: Readonly<Record<string, unknown>>;
  execute?: Executor;
}
