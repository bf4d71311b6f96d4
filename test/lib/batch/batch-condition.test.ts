import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sleep } from "../../../lib/async/timers";
import { FanoutError } from "../../../lib/base/errors";
import { buildPlan } from "../../../lib/batch/plan";
import { type BatchMode, type Executor, runBatch } from "../../../lib/batch/scheduler";
import type { StepInput } from "../../../lib/batch/steps/types";
import { INPUT_ROOTS } from "../../../lib/batch/template";
import { batchContext } from "../batch-context";

/**
 * Steps with a `when`: decided when their dependencies have settled, skipped with the reason
 * `condition_false` when it is false; what needs them is skipped the same way; the mode, the
 * deadline and cancelling go on as without conditions.
 */

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A wait step of `ms`; one of `ms % 100 === 13` fails (network). */
const wait = (id: string, ms: number, extra: Partial<StepInput> = {}): StepInput => ({ id, wait: { ms }, ...extra });
const CONDITION_FALSE = { code: "skipped", message: "condition false", reason: "condition_false" };

async function run(steps: StepInput[], options: { mode?: BatchMode; deadlineMs?: number; inputs?: Record<string, unknown> } = {}) {
  const started: string[] = [];
  const execute: Executor = async (_kind, spec, { signal }) => {
    const ms = (spec as { ms: number }).ms;
    started.push(String(ms));
    await sleep(ms, { signal });
    if (ms % 100 === 13) throw new FanoutError("network", `step of ${ms} failed`);
    return { ok: true, status: 200, body: { ms, plan: "pro" } };
  };
  const plan = buildPlan(steps, { maxSteps: 100, subrequestBudget: 1000, isInProcess: () => true, inputRoots: INPUT_ROOTS });
  const settled: string[] = [];
  const outcome = runBatch(plan, {
    mode: options.mode ?? "allSettled",
    concurrency: 6,
    maxSteps: 100,
    batch: batchContext({ deadlineMs: options.deadlineMs }),
    onSettle: (id) => settled.push(id),
    inputs: options.inputs ?? {},
    execute,
  });
  await vi.runAllTimersAsync();
  return { outcome: await outcome, started, settled };
}

describe("runBatch with when", () => {
  it("runs a step whose condition holds and skips one whose condition is false, without executing it", async () => {
    const { outcome, started } = await run([
      wait("user", 50),
      wait("pro", 20, { when: 'user.body.plan == "pro"' }),
      wait("free", 30, { when: 'user.body.plan == "free"' }),
    ]);
    expect(outcome.results.pro).toMatchObject({ ok: true, startMs: 50 });
    expect(outcome.results.free).toEqual({ ok: false, error: CONDITION_FALSE, startMs: 50, durationMs: 0 });
    expect(started).toEqual(["50", "20"]);
    expect(outcome.counts).toEqual({ ok: 2, failed: 0, skipped: 1, cancelled: 0 });
    // Skipped by a condition is not a failure: the batch is complete.
    expect(outcome.completed).toBe(true);
  });

  it("decides a step without dependencies at the start, from the request's values", async () => {
    const { outcome, started } = await run([wait("reviews", 10, { when: 'query.include == "reviews"' }), wait("other", 20)], {
      inputs: { query: {} },
    });
    expect(outcome.results.reviews!.error).toEqual(CONDITION_FALSE);
    expect(started).toEqual(["20"]);
    const included = await run([wait("reviews", 10, { when: 'query.include == "reviews"' })], {
      inputs: { query: { include: "reviews" } },
    });
    expect(included.outcome.results.reviews!.ok).toBe(true);
  });

  it("skips what needs a condition-skipped step (references or dependsOn), naming it, with the same reason", async () => {
    const { outcome, started } = await run([
      wait("gate", 10, { when: "false" }),
      { id: "child", http: { url: "/v1/sim/{{gate.body.ms}}", method: "GET", maxRedirects: 0 } },
      wait("grandchild", 10, { dependsOn: ["child"], when: "true" }),
      wait("other", 10),
    ]);
    expect(outcome.results.child!.error).toEqual({
      code: "skipped",
      message: 'dependency "gate" was skipped (condition false)',
      dependency: "gate",
      reason: "condition_false",
    });
    expect(outcome.results.grandchild!.error).toMatchObject({ dependency: "child", reason: "condition_false" });
    expect(started).toEqual(["10"]);
    expect(outcome.completed).toBe(true);
  });

  it("lets a step that reads a skipped or failed step only in its when decide for itself (read as absent)", async () => {
    const { outcome } = await run([
      wait("promo", 10, { when: "false" }),
      wait("fallback", 20, { when: "not exists promo.body and not exists promo.headers" }),
      wait("needsPromo", 30, { when: "promo.status == 200" }),
      wait("flaky", 113),
      wait("retry", 40, { when: "flaky.status != 200" }),
    ]);
    expect(outcome.results.fallback).toMatchObject({ ok: true, startMs: 0 });
    expect(outcome.results.needsPromo!.error).toEqual(CONDITION_FALSE);
    expect(outcome.results.flaky).toMatchObject({ ok: false, error: { code: "network" } });
    // It waited for the failed step to settle, then ran.
    expect(outcome.results.retry).toMatchObject({ ok: true, startMs: 113 });
  });

  it("names a failed dependency rather than a condition-skipped one, whichever settles first", async () => {
    for (const [failMs, gateMs] of [
      [13, 50],
      [113, 5],
    ]) {
      const { outcome } = await run([
        wait("bad", failMs!),
        wait("slowGate", gateMs!),
        wait("gate", 1, { when: "false", dependsOn: ["slowGate"] }),
        wait("child", 1, { dependsOn: ["gate", "bad"] }),
      ]);
      expect(outcome.results.child!.error).toEqual({ code: "skipped", message: 'dependency "bad" did not succeed', dependency: "bad" });
    }
  });

  it("all: a false condition neither stops the batch nor fails its condition", async () => {
    const { outcome } = await run([wait("gate", 10, { when: "false" }), wait("after", 20, { dependsOn: ["gate"] }), wait("slow", 100)], {
      mode: "all",
    });
    expect(outcome.results.slow!.ok).toBe(true);
    expect(outcome.conditionMet).toBe(true);
    expect(outcome.completed).toBe(true);
  });

  it("race: a step skipped by its condition is not the first result", async () => {
    const { outcome } = await run([wait("gate", 10, { when: "false" }), wait("fails", 113), wait("wins", 50)], { mode: "race" });
    expect(outcome.conditionMet).toBe(true);
    expect(outcome.results.fails!.error!.code).toBe("cancelled");
  });

  it("any: nothing that ran succeeded when every step was skipped by its condition", async () => {
    const { outcome } = await run([wait("a", 10, { when: "false" }), wait("b", 10, { when: "null == 1" })], { mode: "any" });
    expect(outcome.conditionMet).toBe(false);
    expect(outcome.completed).toBe(true);
  });

  it("the deadline cancels a conditional step still waiting for its dependency, without deciding it", async () => {
    const { outcome, started } = await run([wait("slow", 5000), wait("gated", 10, { when: "slow.status == 200" })], { deadlineMs: 300 });
    expect(outcome.results.slow!.error!.code).toBe("deadline_exceeded");
    expect(outcome.results.gated).toMatchObject({ ok: false, error: { code: "cancelled" } });
    expect(outcome.results.gated!.error!.reason).toBeUndefined();
    expect(started).toEqual(["5000"]);
  });

  it("a stop (mode all) cancels a step whose when reads a cancelled step; nothing starts after it", async () => {
    // waiter is cancelled (not started) when the batch stops; gated, which only reads it, must not start then.
    const { outcome, started } = await run(
      [
        wait("bad", 13),
        wait("slow", 1000),
        wait("waiter", 5, { dependsOn: ["slow"] }),
        wait("gated", 10, { when: "not exists waiter.body" }),
      ],
      { mode: "all" },
    );
    expect(outcome.conditionMet).toBe(false);
    expect(outcome.results.gated!.error!.code).toBe("cancelled");
    expect(started).toEqual(["13", "1000"]);
  });
});
