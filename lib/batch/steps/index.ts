import { sleep } from "../../async/timers";
import { runCache } from "./cache";
import type { StepRun } from "./context";
import { runD1 } from "./d1";
import { runHttp } from "./http";
import { runKv } from "./kv";
import { runR2 } from "./r2";
import type { SpecByKind, StepKind, StepOutput } from "./types";

async function runWait(spec: SpecByKind["wait"], { signal }: StepRun): Promise<StepOutput> {
  await sleep(spec.ms, { signal });
  return { ok: true, status: 200, body: { waitedMs: spec.ms } };
}

const EXECUTORS: { [K in StepKind]: (spec: SpecByKind[K], run: StepRun) => Promise<StepOutput> } = {
  http: runHttp,
  kv: runKv,
  r2: runR2,
  d1: runD1,
  cache: runCache,
  wait: runWait,
};

/** Runs one (already rendered) step of the given kind. */
export function executeStep<K extends StepKind>(kind: K, spec: SpecByKind[K], run: StepRun): Promise<StepOutput> {
  return EXECUTORS[kind](spec, run);
}
