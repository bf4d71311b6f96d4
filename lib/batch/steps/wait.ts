import { z } from "zod";
import { sleep } from "../../async/timers";
import type { StepRun } from "./context";
import { ms } from "./fields";
import { defineStepKind } from "./kind";
import type { StepOutput } from "./output";

/** The wait step: sleeps `ms` (under the deadline); no I/O, so no subrequest. */

export interface WaitSpec {
  ms: number;
}

export const WaitStep = z.object({ ms: ms(300_000) }).strict() satisfies z.ZodType<WaitSpec>;

async function runWait(spec: WaitSpec, { signal }: StepRun<unknown>): Promise<StepOutput> {
  await sleep(spec.ms, { signal });
  return { ok: true, status: 200, body: { waitedMs: spec.ms } };
}

export const wait = defineStepKind<"wait", WaitSpec, unknown>({
  kind: "wait",
  schema: WaitStep,
  run: runWait,
  cost: () => 0,
  expectedMs: 0,
  // A literal ms is exactly how long it takes (a {{reference}} is only known when it runs).
  statedMs: (spec) => (typeof spec.ms === "number" ? spec.ms : undefined),
  errors: [],
});
