import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Deadline } from "../../lib/async/timers";
import { FanoutError } from "../../lib/base/errors";
import { buildPlan } from "../../lib/batch/plan";
import { BATCH_MODES, type BatchMode, type Executor, runBatch, type StepResult } from "../../lib/batch/scheduler";
import type { StepInput } from "../../lib/batch/steps/types";
import { batchContext } from "../lib/batch-context";
import { fuzzParameters } from "./fuzz";

/**
 * The scheduler on random DAGs, every mode: a step starts only after all its dependencies
 * succeeded, no more than `concurrency` executions are in flight, and every step settles exactly
 * once (one onSettle call, the same result as the outcome's). Executions take a random number of
 * microtask turns, succeed or fail at random, and some ignore their abort signal; steps carry random
 * expectedMs hints, so the critical-path order of the queue varies too. Some steps have a `when`
 * (always, never, or "an earlier step answered 200"): a step starts only once what its condition
 * reads has settled and the condition holds, and one whose condition is false never runs.
 */

interface StepPlan {
  /** Indexes of earlier steps this one depends on (earlier only, so the graph is acyclic). */
  deps: number[];
  /** Declared by reference (`{{sN.body}}` in forEach) rather than dependsOn. */
  byReference: boolean;
  /** forEach over a literal array of this many items, or a single execution. */
  items: number | null;
  outcome: "ok" | "fail-throw" | "fail-output";
  turns: number;
  ignoresAbort: boolean;
  /** A scheduling hint (it orders the queue, never changes what runs). */
  expectedMs: number | null;
  /** `when`: always, never, or "step sN answered 200" (N earlier, maybe a dependency already). */
  when: "true" | "false" | number | null;
}

const stepPlan = (index: number): fc.Arbitrary<StepPlan> =>
  fc.record({
    deps: index === 0 ? fc.constant([]) : fc.uniqueArray(fc.nat({ max: index - 1 }), { maxLength: Math.min(index, 4) }),
    byReference: fc.boolean(),
    items: fc.option(fc.nat({ max: 3 }), { freq: 4 }),
    outcome: fc.constantFrom("ok", "ok", "ok", "fail-throw", "fail-output"),
    turns: fc.nat({ max: 6 }),
    ignoresAbort: fc.boolean(),
    expectedMs: fc.option(fc.nat({ max: 300 }), { freq: 2 }),
    when: fc.option(
      index === 0
        ? fc.constantFrom("true" as const, "false" as const)
        : fc.oneof(fc.constantFrom("true" as const, "false" as const), fc.nat({ max: index - 1 })),
      { freq: 3 },
    ),
  });

const conditionText = (when: StepPlan["when"]) => (typeof when === "number" ? `s${when}.status == 200` : when);

const dag = fc.integer({ min: 1, max: 14 }).chain((size) => fc.tuple(...Array.from({ length: size }, (_, index) => stepPlan(index))));

/** The step list as a client would write it, in a shuffled order (ids say the order, not positions). */
function stepsOf(plans: readonly StepPlan[], order: readonly number[]): StepInput[] {
  return order.map((index) => {
    const plan = plans[index]!;
    const byRef = plan.byReference && plan.deps.length > 0;
    const input: StepInput = { id: `s${index}`, wait: { ms: index } };
    if (!byRef && plan.deps.length > 0) input.dependsOn = plan.deps.map((dep) => `s${dep}`);
    // A dependency by reference: the wait's ms (this step's index) is rendered from the dependency's body.
    if (byRef) {
      if (plan.deps.length > 1) input.dependsOn = plan.deps.slice(1).map((dep) => `s${dep}`);
      input.wait = { ms: `{{s${plan.deps[0]}.body.ids[${index}]}}` as unknown as number };
    }
    if (plan.expectedMs !== null) input.expectedMs = plan.expectedMs;
    if (plan.items !== null) input.forEach = Array.from({ length: plan.items }, (_, item) => item);
    if (plan.when !== null) input.when = conditionText(plan.when)!;
    return input;
  });
}

async function microturns(turns: number): Promise<void> {
  for (let turn = 0; turn < turns; turn++) await Promise.resolve();
}

describe("the batch scheduler (fuzz)", () => {
  it("respects dependencies and concurrency, and settles every step exactly once, in every mode", async () => {
    await fc.assert(
      fc.asyncProperty(
        dag.chain((plans) =>
          fc.tuple(
            fc.constant(plans),
            fc.shuffledSubarray(
              plans.map((_, index) => index),
              { minLength: plans.length },
            ),
          ),
        ),
        fc.constantFrom(...BATCH_MODES),
        fc.integer({ min: 1, max: 8 }),
        async ([plans, order], mode: BatchMode, concurrency) => {
          const okOutputs = new Set<string>();
          const settledCalls = new Map<string, StepResult[]>();
          const executions = new Map<string, number>();
          let inFlight = 0;
          let maxInFlight = 0;
          const violations: string[] = [];

          const execute: Executor = async (_kind, spec, { signal }) => {
            // The step is known by its index; a step whose ms came from a reference reads it from the body.
            const id = `s${(spec as { ms: number }).ms}`;
            const index = Number(id.slice(1));
            const plan = plans[index]!;
            for (const dep of plan.deps) {
              const results = settledCalls.get(`s${dep}`);
              if (!results || !results[0]!.ok) violations.push(`${id} started before its dependency s${dep} succeeded`);
            }
            if (settledCalls.has(id)) violations.push(`${id} executed after it settled`);
            if (plan.when === "false") violations.push(`${id} ran although its condition is false`);
            if (typeof plan.when === "number" && settledCalls.get(`s${plan.when}`)?.[0]?.status !== 200)
              violations.push(`${id} ran before s${plan.when}, which its condition reads, settled with 200`);
            executions.set(id, (executions.get(id) ?? 0) + 1);
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            try {
              if (plan.ignoresAbort) await microturns(plan.turns);
              else {
                for (let turn = 0; turn < plan.turns; turn++) {
                  if (signal.aborted) throw signal.reason;
                  await Promise.resolve();
                }
              }
              if (plan.outcome === "fail-throw") throw new FanoutError("network", `${id} failed`);
              if (plan.outcome === "fail-output") return { ok: false, status: 503, error: { code: "http_status", message: "503" } };
              okOutputs.add(id);
              return { ok: true, status: 200, body: { index, ids: plans.map((_, i) => i) } };
            } finally {
              inFlight--;
            }
          };

          const deadline = Deadline.after(60_000);
          let stuck: ReturnType<typeof setTimeout> | null = null;
          try {
            const steps = stepsOf(plans, order);
            const outcome = await Promise.race([
              runBatch(buildPlan(steps, { maxSteps: 100, subrequestBudget: 1000, isInProcess: () => true }), {
                mode,
                concurrency,
                maxSteps: 100,
                // Our own deadline, disposed below; the helper's default one is born aborted so it holds no timer
                // (workerd allows 10,000 active timers, and without I/O its clock would never fire them).
                batch: batchContext({ deadline, signal: AbortSignal.abort() }),
                onSettle: (id, result) => settledCalls.set(id, [...(settledCalls.get(id) ?? []), result]),
                execute,
              }),
              // Every execution takes microtask turns only, so a batch that has not settled after a real
              // timer has fired is stuck, not slow.
              new Promise<never>((_, reject) => {
                stuck = setTimeout(() => reject(new Error("runBatch never settled")), 2_000);
              }),
            ]);

            expect(violations).toEqual([]);
            expect(maxInFlight, `in flight ${maxInFlight} > concurrency ${concurrency}`).toBeLessThanOrEqual(concurrency);
            expect(Object.keys(outcome.results).sort()).toEqual(steps.map((step) => step.id).sort());
            for (const step of steps) {
              const calls = settledCalls.get(step.id) ?? [];
              expect(calls.length, `onSettle calls for ${step.id}`).toBe(1);
              expect(calls[0]).toBe(outcome.results[step.id]);
              const result = outcome.results[step.id]!;
              // A step ok in the outcome ran and succeeded, and so did everything it depends on.
              if (result.ok) for (const dep of plans[Number(step.id.slice(1))]!.deps) expect(outcome.results[`s${dep}`]!.ok).toBe(true);
              if (result.ok && plans[Number(step.id.slice(1))]!.items === null) expect(okOutputs.has(step.id)).toBe(true);
              if (result.error) expect(result.error.code).not.toBe("internal");
              if (result.error?.reason === "condition_false") expect(result.error.code).toBe("skipped");
              if (plans[Number(step.id.slice(1))]!.when === "false") expect(result.ok).toBe(false);
            }
            const counts = outcome.counts;
            expect(counts.ok + counts.failed + counts.skipped + counts.cancelled).toBe(steps.length);
          } finally {
            if (stuck !== null) clearTimeout(stuck);
            deadline.dispose();
          }
        },
      ),
      fuzzParameters(),
    );
  });
});
