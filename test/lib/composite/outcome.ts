import type { BatchOutcome, StepResult } from "../../../lib/batch/scheduler";

/**
 * A finished batch built by hand, for tests of what a composite makes of one: `results` as given, the
 * counts and `completed` derived from them (shaping reads only the results).
 */
export function outcomeOf(results: Record<string, StepResult>): BatchOutcome {
  const values = Object.values(results);
  const okCount = values.filter((result) => result.ok).length;
  return {
    mode: "allSettled",
    completed: okCount === values.length,
    conditionMet: true,
    durationMs: 1,
    counts: { ok: okCount, failed: values.length - okCount, skipped: 0, cancelled: 0 },
    results,
  };
}
