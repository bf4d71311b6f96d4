import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sleep } from "../../../lib/async/timers";
import { buildPlan, criticalPathPriorities, DEFAULT_EXPECTED_MS, expectedLatency } from "../../../lib/batch/plan";
import { type Executor, runBatch } from "../../../lib/batch/scheduler";
import type { StepInput } from "../../../lib/batch/steps/types";
import { batchContext } from "../batch-context";

/**
 * Critical-path-first scheduling: when more executions are ready than the pool has slots, the one
 * with the longest chain of expected latencies ahead of it starts first; ties keep arrival order.
 * Fake timers; the executor records when (virtual ms) each execution really started.
 */

const plan = (steps: StepInput[]) => buildPlan(steps, { maxSteps: 200, subrequestBudget: 1000, isInProcess: () => true });

/** An http step whose URL names it and how long it takes: `http://up/<name>/<ms>`. */
const http = (id: string, ms: number, extra: Partial<StepInput> = {}): StepInput => ({
  id,
  http: { url: `http://up/${id}/${ms}`, method: "GET", maxRedirects: 0 },
  ...extra,
});
/** A kv step whose key names it and how long it takes: `test:<name>:<ms>`. */
const kv = (id: string, ms: number, extra: Partial<StepInput> = {}): StepInput => ({
  id,
  kv: { key: `test:${id}:${ms}`, type: "text" },
  ...extra,
});
/** A wait step; the executor knows it by its ms, so tests give each wait a distinct one. */
const wait = (id: string, ms: number, extra: Partial<StepInput> = {}): StepInput => ({ id, wait: { ms }, ...extra });

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function timedExecutor() {
  const starts: Array<[string, number]> = [];
  const origin = Date.now();
  const execute: Executor = async (kind, spec, { signal }) => {
    let name: string;
    let ms: number;
    if (kind === "wait") {
      ms = (spec as { ms: number }).ms;
      name = `wait${ms}`;
    } else if (kind === "kv") {
      const [, key, duration] = (spec as { key: string }).key.split(":");
      name = key!;
      ms = Number(duration);
    } else {
      const [, , , key, duration] = (spec as { url: string }).url.split("/");
      name = key!;
      ms = Number(duration);
    }
    starts.push([name, Date.now() - origin]);
    await sleep(ms, { signal });
    return { ok: true, status: 200, body: { name } };
  };
  return {
    execute,
    starts,
    /** The virtual ms at which `name` started executing. */
    startOf: (name: string) => starts.find(([started]) => started === name)?.[1],
    order: () => starts.map(([name]) => name),
  };
}

async function run(steps: StepInput[], concurrency: number) {
  const recorder = timedExecutor();
  const promise = runBatch(plan(steps), {
    mode: "allSettled",
    concurrency,
    maxSteps: 200,
    batch: batchContext(),
    execute: recorder.execute,
  });
  await vi.runAllTimersAsync();
  const outcome = await promise;
  expect(outcome.counts.ok).toBe(steps.length);
  return { outcome, ...recorder };
}

/** 30 independent 100 ms steps, then a chain of 5 dependent 100 ms steps (listed last). */
function chainPlusFan(step: (id: string, extra: Partial<StepInput>) => StepInput): StepInput[] {
  const fan = Array.from({ length: 30 }, (_, i) => step(`f${i}`, {}));
  const chain = Array.from({ length: 5 }, (_, i) => step(`c${i}`, i === 0 ? {} : { dependsOn: [`c${i - 1}`] }));
  return [...fan, ...chain];
}

describe("critical-path-first scheduling", () => {
  it.each([
    ["http steps with expectedMs hints", (id: string, extra: Partial<StepInput>) => http(id, 100, { expectedMs: 100, ...extra })],
    ["http steps without hints (the 100 ms default)", (id: string, extra: Partial<StepInput>) => http(id, 100, extra)],
    ["kv steps without hints (the 10 ms default)", (id: string, extra: Partial<StepInput>) => kv(id, 100, extra)],
  ])("6 slots, a 5-step chain listed after 30 independent steps (%s): the chain starts in the first wave, 600 ms", async (_, step) => {
    const { outcome, startOf, starts } = await run(chainPlusFan(step), 6);
    expect(startOf("c0")).toBe(0);
    expect(starts.filter(([, at]) => at === 0).map(([name]) => name)).toEqual(["c0", "f0", "f1", "f2", "f3", "f4"]);
    for (let i = 1; i < 4; i++) expect(startOf(`c${i}`)).toBe(i * 100);
    // The last chain step may tie with the fan steps (100 ms to the end each), which queued first.
    expect(startOf("c4")).toBeLessThanOrEqual(500);
    expect(outcome.durationMs).toBe(600);
  });

  it("equal priorities keep submission order (FIFO): the same batch hinted all 0 ms takes 1000 ms", async () => {
    const { outcome, startOf, order } = await run(
      chainPlusFan((id, extra) => http(id, 100, { expectedMs: 0, ...extra })),
      6,
    );
    expect(order().slice(0, 30)).toEqual(Array.from({ length: 30 }, (_, i) => `f${i}`));
    expect(startOf("c0")).toBe(500);
    expect(outcome.durationMs).toBe(1000);
  });

  it("a step made ready by a settling step competes for that step's slot with the steps already waiting", async () => {
    const { order } = await run(
      [
        http("a", 100, { expectedMs: 100 }),
        http("waiting", 100, { expectedMs: 500 }),
        http("next", 100, { expectedMs: 1000, dependsOn: ["a"] }),
      ],
      1,
    );
    expect(order()).toEqual(["a", "next", "waiting"]);
  });

  it("ties keep submission order", async () => {
    const steps = Array.from({ length: 10 }, (_, i) => http(`s${i}`, 10, { expectedMs: 50 }));
    const { order } = await run(steps, 2);
    expect(order()).toEqual(steps.map((step) => step.id));
  });

  it("a step with expectedMs 0 and no dependents does not starve: it starts once slots free up", async () => {
    const steps = [
      ...Array.from({ length: 8 }, (_, i) => http(`h${i}`, 100, { expectedMs: 100 })),
      http("zero", 10, { expectedMs: 0 }),
      // Higher-priority work keeps arriving while "zero" waits.
      ...Array.from({ length: 8 }, (_, i) => http(`d${i}`, 100, { expectedMs: 100, dependsOn: [`h${i}`] })),
    ];
    const { outcome, order, startOf } = await run(steps, 2);
    expect(order().at(-1)).toBe("zero");
    expect(startOf("zero")).toBe(800);
    expect(outcome.results.zero!.ok).toBe(true);
  });

  it("unknown latencies use the kind's default: an http step (100 ms) before a kv step (10 ms)", async () => {
    const { order } = await run([http("first", 50, { expectedMs: 1000 }), kv("kv", 10), http("http", 10)], 1);
    expect(order()).toEqual(["first", "http", "kv"]);
  });

  it("an expectedMs hint overrides the default", async () => {
    const { order } = await run([http("first", 50, { expectedMs: 1000 }), http("http", 10, { expectedMs: 5 }), kv("kv", 10)], 1);
    expect(order()).toEqual(["first", "kv", "http"]);
  });

  it("a wait step is expected to take its own ms", async () => {
    const { order } = await run([http("first", 50, { expectedMs: 1000 }), wait("short", 20), wait("long", 300), http("http", 10)], 1);
    expect(order()).toEqual(["first", "wait300", "http", "wait20"]);
  });

  it("what the batch observes for a kind replaces its default for the steps not yet queued", async () => {
    // At 200 ms the probe settles and three steps become ready for its slot. kvA heads a kv chain of
    // two: by default 10 + 10 = 20 < an http step's 100, but the probe took 200 ms, so kvA is expected
    // at 200 + 200 = 400 and goes first (then kvB, at the kv mean of 105 ms).
    const steps = (probeMs: number) => [
      kv("probe", probeMs),
      wait("block", 1000, { expectedMs: 1 }),
      http("httpX", 100, { dependsOn: ["probe"] }),
      http("httpY", 100, { dependsOn: ["probe"] }),
      kv("kvA", 10, { dependsOn: ["probe"] }),
      kv("kvB", 10, { dependsOn: ["kvA"] }),
    ];
    const slow = await run(steps(200), 2);
    expect(slow.order()).toEqual(["probe", "wait1000", "kvA", "kvB", "httpX", "httpY"]);
    const fast = await run(steps(10), 2);
    expect(fast.order()).toEqual(["probe", "wait1000", "httpX", "httpY", "kvA", "kvB"]);
  });
});

describe("criticalPathPriorities", () => {
  it("is the longest chain of expected latencies from each step to the end of the DAG", () => {
    // a -> b -> d, a -> c -> d, e alone; listed out of topological order.
    const planned = plan([
      http("d", 0, { expectedMs: 1, dependsOn: ["b", "c"] }),
      http("c", 0, { expectedMs: 30, dependsOn: ["a"] }),
      http("b", 0, { expectedMs: 10, dependsOn: ["a"] }),
      http("a", 0, { expectedMs: 100 }),
      wait("e", 7),
      kv("f", 0),
    ]);
    const priorities = criticalPathPriorities(planned, (step) => expectedLatency(step));
    expect([...priorities]).toEqual([1, 31, 11, 131, 7, DEFAULT_EXPECTED_MS.kv]);
  });

  it("uses observed means for steps without a hint, never for hinted ones or literal waits", () => {
    const planned = plan([http("hinted", 0, { expectedMs: 5 }), http("plain", 0), wait("w", 40)]);
    const observed = new Map([
      ["http", 250],
      ["wait", 999],
    ] as const);
    expect(planned.steps.map((step) => expectedLatency(step, observed))).toEqual([5, 250, 40]);
  });
});
