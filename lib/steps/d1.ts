import { FanoutError } from "../errors";
import { abortable } from "../timers";
import type { StepRun } from "./context";
import type { D1Spec, StepOutput } from "./types";

/** D1 runs only named, read-only queries from configuration; a client never sends SQL. */
export async function runD1(spec: D1Spec, { batch, signal }: StepRun): Promise<StepOutput> {
  const sql = batch.d1Queries[spec.query];
  if (sql === undefined) throw new FanoutError("forbidden_target", `no named query "${spec.query}" (D1_QUERIES)`);
  try {
    const result = await abortable(batch.bindings.db.prepare(sql).bind(...(spec.params ?? [])).all(), signal);
    return { ok: true, status: 200, body: result.results, headers: { "x-d1-rows-read": String(result.meta.rows_read ?? 0) } };
  } catch (error) {
    if (signal.aborted) throw error;
    throw new FanoutError("storage_error", `the D1 query "${spec.query}" failed`, { cause: error });
  }
}
