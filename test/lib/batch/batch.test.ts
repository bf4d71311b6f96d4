import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sleep } from "../../../lib/async/timers";
import { buildPlan } from "../../../lib/batch/plan";
import { type BatchMode, type Executor, runBatch, type StepResult } from "../../../lib/batch/scheduler";
import type { StepInput } from "../../../lib/batch/steps/types";
import { batchContext, sleepingExecutor } from "../batch-context";

const plan = (steps: StepInput[], maxSteps = 100) => buildPlan(steps, { maxSteps, subrequestBudget: 1000, isInProcess: () => true });
const wait = (id: string, ms: number, dependsOn?: string[]): StepInput => ({ id, wait: { ms }, ...(dependsOn ? { dependsOn } : {}) });

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

async function run(
  steps: StepInput[],
  options: { mode?: BatchMode; concurrency?: number; deadlineMs?: number; execute?: Executor; maxSteps?: number } = {},
) {
  const settled: Array<[string, StepResult]> = [];
  const outcome = runBatch(plan(steps, options.maxSteps), {
    mode: options.mode ?? "allSettled",
    concurrency: options.concurrency ?? 6,
    maxSteps: options.maxSteps ?? 100,
    batch: batchContext({ deadlineMs: options.deadlineMs }),
    onSettle: (id, result) => settled.push([id, result]),
    ...(options.execute ? { execute: options.execute } : {}),
  });
  await vi.runAllTimersAsync();
  return { outcome: await outcome, settled };
}

/** An executor whose steps fail when their spec says `ms: 13` (a marker), recording what ran. */
const recordingExecutor = () =>
  sleepingExecutor((spec) => {
    const { ms } = spec as { ms: number };
    return { name: String(ms), ms, body: { ms }, ...(ms % 100 === 13 ? { failure: `step of ${ms} failed` } : {}) };
  });

describe("runBatch scheduling", () => {
  it("hands a literal step's spec to its executor as written, and renders a step with references", async () => {
    const steps: StepInput[] = [
      { id: "first", wait: { ms: 5 } },
      { id: "second", http: { url: "https://api.example/{{first.body.ms}}", method: "GET", maxRedirects: 0 } },
    ];
    const seen = new Map<string, unknown>();
    const execute: Executor = async (kind, spec) => {
      seen.set(kind, spec);
      return { ok: true, status: 200, body: { ms: 5 } };
    };
    const settled = runBatch(plan(steps), { mode: "allSettled", concurrency: 6, maxSteps: 100, batch: batchContext(), execute });
    await vi.runAllTimersAsync();
    expect((await settled).counts.ok).toBe(2);
    expect(seen.get("wait")).toBe(steps[0]!.wait);
    expect(seen.get("http")).toEqual({ url: "https://api.example/5", method: "GET", maxRedirects: 0 });
  });

  it("runs independent steps concurrently: 20 waits of 200 ms take 200 ms", async () => {
    const { outcome } = await run(
      Array.from({ length: 20 }, (_, i) => wait(`w${i}`, 200)),
      { concurrency: 20 },
    );
    expect(outcome.durationMs).toBe(200);
    expect(outcome.counts.ok).toBe(20);
  });

  it("takes a diamond A -> {B, C} -> D in three step latencies, not four", async () => {
    const { outcome } = await run([wait("a", 100), wait("b", 100, ["a"]), wait("c", 100, ["a"]), wait("d", 100, ["b", "c"])]);
    expect(outcome.durationMs).toBe(300);
    expect(outcome.results.d!.startMs).toBe(200);
  });

  it("starts a step as soon as its own dependencies finish, not when its level does", async () => {
    const { outcome } = await run([wait("slow", 500), wait("fast", 50), wait("after-fast", 50, ["fast"])]);
    expect(outcome.results["after-fast"]!.startMs).toBe(50);
    expect(outcome.durationMs).toBe(500);
  });

  it("never runs more than `concurrency` steps at once", async () => {
    const recorder = recordingExecutor();
    const { outcome } = await run(
      Array.from({ length: 12 }, (_, i) => wait(`w${i}`, 100)),
      { concurrency: 3, execute: recorder.execute },
    );
    expect(recorder.maxInFlight).toBe(3);
    expect(outcome.durationMs).toBe(400);
  });

  it("reports steps in declared order and calls onSettle in settlement order", async () => {
    const { outcome, settled } = await run([wait("late", 30), wait("early", 10)]);
    expect(Object.keys(outcome.results)).toEqual(["late", "early"]);
    expect(settled.map(([id]) => id)).toEqual(["early", "late"]);
  });
});

describe("runBatch failures and modes", () => {
  it("allSettled: runs everything; a failed step's dependents are skipped with the dependency named", async () => {
    const { execute } = recordingExecutor();
    const { outcome } = await run([wait("bad", 13), wait("child", 10, ["bad"]), wait("grandchild", 10, ["child"]), wait("other", 50)], {
      execute,
    });
    expect(outcome.results.bad).toMatchObject({ ok: false, error: { code: "network" } });
    expect(outcome.results.child).toMatchObject({ ok: false, error: { code: "skipped", dependency: "bad" } });
    expect(outcome.results.grandchild).toMatchObject({ ok: false, error: { code: "skipped", dependency: "child" } });
    expect(outcome.results.other!.ok).toBe(true);
    expect(outcome.counts).toEqual({ ok: 1, failed: 1, skipped: 2, cancelled: 0 });
    expect(outcome.conditionMet).toBe(true);
    expect(outcome.completed).toBe(false);
  });

  it("all: fails fast, aborts running steps and cancels those not started", async () => {
    const recorder = recordingExecutor();
    const { outcome } = await run([wait("bad", 13), wait("slow", 1000), wait("queued", 10, ["slow"])], {
      mode: "all",
      execute: recorder.execute,
    });
    expect(outcome.conditionMet).toBe(false);
    expect(outcome.durationMs).toBe(13);
    expect(outcome.results.slow).toMatchObject({ ok: false, error: { code: "cancelled" } });
    expect(outcome.results.queued).toMatchObject({ ok: false, error: { code: "cancelled" } });
    expect(recorder.aborted).toEqual(["1000"]);
  });

  it("any: returns at the first success and aborts the rest", async () => {
    const recorder = recordingExecutor();
    const { outcome } = await run([wait("fail", 13), wait("win", 50), wait("slow", 1000)], { mode: "any", execute: recorder.execute });
    expect(outcome.conditionMet).toBe(true);
    expect(outcome.durationMs).toBe(50);
    expect(outcome.results.slow!.error!.code).toBe("cancelled");
    expect(recorder.aborted).toEqual(["1000"]);
  });

  it("any: the condition fails when nothing succeeds", async () => {
    const { execute } = recordingExecutor();
    const { outcome } = await run([wait("a", 13), wait("b", 113)], { mode: "any", execute });
    expect(outcome.conditionMet).toBe(false);
    expect(outcome.counts.failed).toBe(2);
  });

  it("race: the first to settle decides, even a failure; the rest are aborted", async () => {
    const recorder = recordingExecutor();
    const { outcome } = await run([wait("fails-first", 13), wait("slow", 500)], { mode: "race", execute: recorder.execute });
    expect(outcome.conditionMet).toBe(false);
    expect(outcome.results.slow!.error!.code).toBe("cancelled");
    expect(recorder.aborted).toEqual(["500"]);
  });

  it("the deadline aborts running steps and cancels waiting ones", async () => {
    const { outcome } = await run([wait("long", 5000), wait("after", 10, ["long"]), wait("quick", 10)], { deadlineMs: 300 });
    expect(outcome.durationMs).toBe(300);
    expect(outcome.results.long).toMatchObject({ ok: false, error: { code: "deadline_exceeded" } });
    expect(outcome.results.after).toMatchObject({ ok: false, error: { code: "cancelled" } });
    expect(outcome.results.after!.error!.message).toContain("not started");
    expect(outcome.results.quick!.ok).toBe(true);
  });
});

describe("runBatch references and forEach", () => {
  const echo: Executor = async (_kind, spec) => ({ ok: true, status: 200, body: spec });

  it("passes data between steps", async () => {
    const { outcome } = await run(
      [
        { id: "a", wait: { ms: 1 } },
        { id: "b", http: { url: "https://x.example/{{a.body.waitedMs}}?s={{a.status}}", method: "GET", maxRedirects: 5 } },
      ],
      {
        execute: (kind, spec, runContext) =>
          kind === "wait" ? sleep(1).then(() => ({ ok: true, status: 200, body: { waitedMs: 1 } })) : echo(kind, spec, runContext),
      },
    );
    expect(outcome.results.b!.body).toMatchObject({ url: "https://x.example/1?s=200" });
  });

  it("expands forEach into one call per item, with item and index", async () => {
    const { outcome } = await run(
      [
        { id: "list", kv: { key: "test:list", type: "json" } },
        { id: "each", forEach: "{{list.body[*].id}}", kv: { key: "test:{{item}}-{{index}}", type: "text" } },
      ],
      {
        execute: async (kind, spec) =>
          kind === "kv" && (spec as { key: string }).key === "test:list"
            ? { ok: true, status: 200, body: [{ id: "a" }, { id: "b" }] }
            : { ok: true, status: 200, body: spec },
      },
    );
    expect(outcome.results.each!.body).toEqual([
      { key: "test:a-0", type: "text" },
      { key: "test:b-1", type: "text" },
    ]);
    expect(outcome.results.each!.items).toHaveLength(2);
  });

  it("fails a forEach whose reference expands past MAX_STEPS at run time, naming the limit", async () => {
    const tenItems: Executor = async () => ({ ok: true, status: 200, body: Array.from({ length: 10 }, (_, i) => i) });
    const { outcome } = await run([wait("list", 1), { id: "each", forEach: "{{list.body}}", wait: { ms: 1 } }], {
      maxSteps: 5,
      execute: tenItems,
    });
    expect(outcome.results.each).toMatchObject({ ok: false, error: { code: "limit_exceeded" } });
    expect(outcome.results.each!.error!.message).toContain("MAX_STEPS");
  });

  it("refuses a literal forEach past MAX_STEPS in the plan, before anything runs", () => {
    expect(() => plan([{ id: "each", forEach: Array.from({ length: 10 }, (_, i) => i), wait: { ms: 1 } }], 5)).toThrow(
      /steps\[0\]\.forEach.*MAX_STEPS/,
    );
  });

  it("fails a step whose reference is missing at run time, precisely", async () => {
    const { outcome } = await run([wait("a", 1), { id: "b", wait: { ms: 1 }, forEach: "{{a.body.nothing}}" }]);
    expect(outcome.results.b!.error).toEqual({
      code: "reference_missing",
      message: '{{a.body.nothing}}: no field "nothing" in an object (fields: waitedMs)',
    });
  });
});
