import fc from "fast-check";
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** From vitest.config.ts: FUZZ_RUNS, FUZZ_SEED and FUZZ_PATH of the run. */
    fuzz: { runs: number; seed: string; path: string };
  }
}

/**
 * fast-check parameters for one property. The run count comes from FUZZ_RUNS (a few hundred in
 * `npm test`, 10,000 in `npm run fuzz`); `share` scales it for a property whose cases are costly.
 * A failure reports its seed and path: FUZZ_SEED=<seed> FUZZ_PATH=<path> replays exactly that case
 * (give the test's name to vitest's -t so only that property runs).
 */
export function fuzzParameters<T>(share = 1): fc.Parameters<T> {
  const { runs, seed, path } = inject("fuzz");
  return {
    numRuns: Math.max(1, Math.round(runs * share)),
    ...(seed ? { seed: Number(seed) } : {}),
    ...(path ? { path } : {}),
    // The counterexample is printed with the seed and path; verbose adds the failures met while shrinking.
    verbose: fc.VerbosityLevel.Verbose,
  };
}
