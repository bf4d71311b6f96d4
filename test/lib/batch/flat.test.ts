import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Budget } from "../../../lib/async/budget";
import { FanoutError } from "../../../lib/base/errors";
import { buildPlan } from "../../../lib/batch/plan";
import { type BatchMode, runBatch } from "../../../lib/batch/scheduler";
import type { StepInput } from "../../../lib/batch/steps/types";
import { batchContext, sleepingExecutor } from "../batch-context";

/**
 * The flat path (Plan.flat): a batch whose steps can all start at once, as written, with one
 * priority, skips the dependency bookkeeping, the priorities and, with a slot for every step, the
 * pool. It must keep every guarantee the general path gives: the concurrency, the mode, the
 * deadline, the caller's cancellation and the budgets.
 */

const plan = (steps: StepInput[]) => buildPlan(steps, { maxSteps: 100, subrequestBudget: 1000, isInProcess: () => false });
/** An http step the executor below answers after `ms` (the URL's last segment); `fail` in the path fails it. */
const call = (id: string, path: string): StepInput => ({
  id,
  http: { url: `https://api.example/${path}`, method: "GET", maxRedirects: 0 },
});
const calls = (count: number, ms: number) => Array.from({ length: count }, (_, index) => call(`s${index}`, String(ms)));

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Steps that sleep for the URL's last segment in ms (failing when the path has `fail`), recorded by URL. */
const urlExecutor = () =>
  sleepingExecutor((spec) => {
    const { url } = spec as { url: string };
    return { name: url, ms: Number(url.split("/").at(-1)), body: url, ...(url.includes("fail") ? { failure: "refused" } : {}) };
  });

async function run(
  steps: StepInput[],
  executor: ReturnType<typeof urlExecutor>,
  options: { mode?: BatchMode; concurrency?: number; deadlineMs?: number; signal?: AbortSignal; subrequests?: number } = {},
) {
  const context = batchContext({ deadlineMs: options.deadlineMs ?? 10_000, signal: options.signal });
  if (options.subrequests !== undefined) context.budgets.subrequests = new Budget(options.subrequests);
  const outcome = runBatch(plan(steps), {
    mode: options.mode ?? "allSettled",
    concurrency: options.concurrency ?? 10,
    maxSteps: 100,
    batch: context,
    execute: executor.execute,
  });
  await vi.runAllTimersAsync();
  return outcome;
}

describe("Plan.flat", () => {
  it("holds for literal steps of one kind with nothing to wait for", () => {
    expect(plan(calls(3, 10)).flat).toBe(true);
    expect(plan([]).flat).toBe(true);
  });

  it.each([
    ["a reference", [call("a", "10"), call("b", "{{a.body}}")]],
    ["dependsOn", [call("a", "10"), { ...call("b", "10"), dependsOn: ["a"] }]],
    ["a when", [call("a", "10"), { ...call("b", "10"), when: "a.status == 200" }]],
    ["a forEach", [call("a", "10"), { ...call("b", "10"), forEach: ["1", "2"] }]],
    ["two kinds", [call("a", "10"), { id: "b", kv: { key: "test:k" } }]],
    ["a stated latency", [call("a", "10"), { ...call("b", "10"), expectedMs: 500 }]],
  ] as Array<[string, StepInput[]]>)("does not hold with %s", (_, steps) => {
    expect(plan(steps).flat).toBe(false);
  });

  it("does not hold for a composite's step that renders or tests the request's values", () => {
    const limits = { maxSteps: 100, subrequestBudget: 1000, isInProcess: () => false, inputRoots: new Set(["params"]) };
    expect(buildPlan([call("a", "{{params.id}}")], limits).flat).toBe(false);
    expect(buildPlan([{ ...call("a", "10"), when: "params.id == 1" }], limits).flat).toBe(false);
    expect(buildPlan([call("a", "10")], limits).flat).toBe(true);
  });
});

describe("the flat path", () => {
  it("starts every step at once when each has a slot, and keeps the steps' order in the results", async () => {
    const executor = urlExecutor();
    const outcome = await run([call("slow", "300"), call("fast", "10"), call("mid", "100")], executor);
    expect(executor.maxInFlight).toBe(3);
    expect(Object.keys(outcome.results)).toEqual(["slow", "fast", "mid"]);
    expect(outcome).toMatchObject({ completed: true, counts: { ok: 3, failed: 0 } });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(300);
    expect(outcome.durationMs).toBeLessThan(600);
  });

  it("holds to the concurrency when steps outnumber the slots, starting them in order", async () => {
    const executor = urlExecutor();
    const outcome = await run(calls(7, 50), executor, { concurrency: 2 });
    expect(executor.maxInFlight).toBe(2);
    expect(executor.started).toHaveLength(7);
    expect(outcome.counts.ok).toBe(7);
    // 7 steps of 50 ms, two at a time: four waves.
    expect(outcome.durationMs).toBeGreaterThanOrEqual(200);
  });

  it("the deadline aborts the running steps, and the waiting ones never start", async () => {
    const executor = urlExecutor();
    const outcome = await run(calls(4, 5000), executor, { concurrency: 2, deadlineMs: 300 });
    expect(executor.aborted).toHaveLength(2);
    expect(executor.started).toHaveLength(2);
    expect(outcome.results.s0).toMatchObject({ ok: false, error: { code: "deadline_exceeded" } });
    expect(outcome.results.s3).toMatchObject({ ok: false, error: { code: "deadline_exceeded" } });
    expect(outcome.counts.ok).toBe(0);
    expect(outcome.durationMs).toBeLessThan(1000);
  });

  it("the caller's abort (a client that went away) aborts every running step", async () => {
    const executor = urlExecutor();
    const caller = new AbortController();
    setTimeout(() => caller.abort(new FanoutError("cancelled", "the client went away")), 100);
    const outcome = await run(calls(3, 5000), executor, { signal: caller.signal });
    expect(executor.aborted).toHaveLength(3);
    expect(Object.values(outcome.results).every((result) => !result.ok)).toBe(true);
    expect(outcome.durationMs).toBeLessThan(1000);
  });

  it("mode all stops at the first failure and aborts the rest", async () => {
    const executor = urlExecutor();
    const outcome = await run([call("a", "5000"), call("b", "fail/20"), call("c", "5000")], executor, { mode: "all" });
    expect(outcome.conditionMet).toBe(false);
    expect(outcome.results.b).toMatchObject({ ok: false, error: { code: "network" } });
    expect(outcome.results.a).toMatchObject({ ok: false, error: { code: "cancelled" } });
    expect(executor.aborted).toEqual(["https://api.example/5000", "https://api.example/5000"]);
  });

  it("mode race answers with the first step to settle", async () => {
    const executor = urlExecutor();
    const outcome = await run([call("a", "400"), call("b", "30"), call("c", "400")], executor, { mode: "race" });
    expect(outcome.conditionMet).toBe(true);
    expect(outcome.results.b).toMatchObject({ ok: true });
    expect(outcome.counts.cancelled).toBe(2);
  });

  it("takes each step's subrequests from the batch's budget and fails the steps past it", async () => {
    const executor = urlExecutor();
    const outcome = await run(calls(3, 10), executor, { subrequests: 2 });
    expect(executor.started).toHaveLength(2);
    expect(outcome.results.s2).toMatchObject({ ok: false, error: { code: "budget_exhausted" } });
  });
});
