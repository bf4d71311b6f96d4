import { z } from "zod";
import { skippedByCondition } from "../batch/outcome";
import type { StepResult } from "../batch/scheduler";
import { ClientJson } from "../batch/steps/fields";
import { followPath, parsePickPath } from "../batch/template";
import type { CompositeDefinition, CompositeStep } from "./definition";

/**
 * Fallback data (KrakenD's static proxy): an optional step's stand-in body, substituted when the
 * composite is shaped, never in the batch engine (the step did fail; its dependents, the log and
 * Server-Timing say so). Output rules and templates read it as they would read the upstream's body.
 * A failure that fell back is named in `fanout-fallback`; a skip by a false `when` (with
 * `whenSkipped`) is the declared default for that request, part of a complete answer.
 */

/** The most JSON text one fallback may hold: it is part of the composites file and of every answer that uses it. */
export const MAX_FALLBACK_CHARS = 65_536;

/** A step's `fallback`: `{ "data": <any JSON>, "whenSkipped": false }`. */
export const Fallback = z
  .object({
    data: ClientJson.optional(),
    whenSkipped: z.boolean().default(false),
  })
  .strict()
  .superRefine((fallback, ctx) => {
    if (fallback.data === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["data"],
        message: 'fallback needs "data": the JSON used in place of the body (null is allowed)',
      });
    else if (JSON.stringify(fallback.data).length > MAX_FALLBACK_CHARS)
      ctx.addIssue({ code: "custom", path: ["data"], message: `at most ${MAX_FALLBACK_CHARS} characters of JSON (MAX_FALLBACK_CHARS)` });
  });

/** A fallback stands in for an optional step: a required step that fails fails the answer. */
export function checkFallbackRule(step: { required: boolean; fallback?: unknown }, ctx: z.RefinementCtx): void {
  if (step.fallback !== undefined && step.required)
    ctx.addIssue({ code: "custom", path: ["fallback"], message: 'fallback is for an optional step ("required": false)' });
}

type Issue = (path: PropertyKey[], message: string) => void;

/** Where a fallback's data cannot be shaped by the step's output rule, the reason (the rule is fixed, so this is known now). */
function ruleProblem(data: unknown, rule: { target?: string; merge?: boolean }): string | undefined {
  let shaped = data;
  if (rule.target !== undefined) {
    try {
      shaped = followPath(data, parsePickPath(rule.target), (why) => {
        throw new Error(why);
      });
    } catch (error) {
      return `the data has no output target "${rule.target}" (${(error as Error).message})`;
    }
  }
  if (rule.merge && (shaped === null || typeof shaped !== "object" || Array.isArray(shaped)))
    return "output merge needs an object: the data is not one";
  return undefined;
}

/**
 * The composite-wide fallback checks: `whenSkipped` needs a condition to skip on, `fallbackTtlSeconds`
 * a fallback to apply to and a TTL it is shorter than, and each fallback's data must fit its step's output rule.
 */
export function checkFallbacks(composite: Omit<CompositeDefinition, "name">, issue: Issue): void {
  const fallbacks = composite.steps.flatMap((step, index) => (step.fallback ? [{ step, index, fallback: step.fallback }] : []));
  const anyCondition = composite.steps.some((step) => step.when !== undefined);
  for (const { step, index, fallback } of fallbacks) {
    if (fallback.whenSkipped && !anyCondition)
      issue(["steps", index, "fallback", "whenSkipped"], "no step has a when, so nothing is ever skipped by a condition");
    const rule = composite.output ? composite.output.steps?.[step.id] : {};
    const problem = rule && ruleProblem(fallback.data, rule);
    if (problem) issue(["steps", index, "fallback", "data"], `${problem} (output.steps.${step.id})`);
  }
  const ttl = composite.cache?.fallbackTtlSeconds;
  if (ttl === undefined) return;
  if (fallbacks.length === 0) issue(["cache", "fallbackTtlSeconds"], "no step declares a fallback");
  if (ttl > composite.cache!.ttlSeconds) issue(["cache", "fallbackTtlSeconds"], `at most ttlSeconds (${composite.cache!.ttlSeconds})`);
}

/** A batch's results with each fallback substituted, and the steps that fell back because they failed (declaration order). */
export interface WithFallbacks {
  results: Record<string, StepResult>;
  fellBack: string[];
}

/**
 * Substitutes fallback data: a step that did not succeed (failed, cancelled, skipped for a failure,
 * never run) gets its fallback as its body, and so does one a false `when` skipped when `whenSkipped`.
 */
export function withFallbacks(steps: readonly CompositeStep[], results: Readonly<Record<string, StepResult>>): WithFallbacks {
  const substituted: Record<string, StepResult> = { ...results };
  const fellBack: string[] = [];
  for (const step of steps) {
    const result = results[step.id];
    if (step.fallback === undefined || result?.ok) continue;
    const skipped = result !== undefined && skippedByCondition(result);
    if (skipped && !step.fallback.whenSkipped) continue;
    if (!skipped) fellBack.push(step.id);
    substituted[step.id] = {
      ok: true,
      headers: {},
      body: step.fallback.data,
      startMs: result?.startMs ?? 0,
      durationMs: result?.durationMs ?? 0,
    };
  }
  return { results: substituted, fellBack };
}
