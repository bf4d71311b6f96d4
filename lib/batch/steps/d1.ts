import { abortable } from "../../async/timers";
import { FanoutError } from "../../base/errors";
import type { BatchContext, StepRun } from "./context";
import type { D1Spec, StepOutput } from "./types";

/**
 * How many parameters a SQL statement takes, as SQLite numbers them: `?NNN` sets the number, a bare
 * `?` takes the next one, and each distinct `:name`, `@name` or `$name` takes one. Quoted text and
 * comments are skipped.
 */
export function d1ParamCount(sql: string): number {
  const code = sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?\*\//g, " ");
  let count = 0;
  const named = new Set<string>();
  for (const [token, number] of code.matchAll(/\?(\d+)?|[:@$][A-Za-z_]\w*/g)) {
    if (token.startsWith("?")) count = number === undefined ? count + 1 : Math.max(count, Number(number));
    else if (!named.has(token)) {
      named.add(token);
      count++;
    }
  }
  return count;
}

/** D1 runs only named, read-only queries from configuration; a client never sends SQL. */
/** What the d1 step uses of its batch. */
export type D1Deps = Pick<BatchContext, "bindings" | "d1Queries">;

/** Runs a named D1 query with exactly as many parameters as it takes; database failures are `storage_error`. */
export async function runD1(spec: D1Spec, { deps, signal }: StepRun<D1Deps>): Promise<StepOutput> {
  const sql = deps.d1Queries[spec.query];
  if (sql === undefined) throw new FanoutError("forbidden_target", `no named query "${spec.query}" (D1_QUERIES)`);
  const expected = d1ParamCount(sql);
  const given = spec.params?.length ?? 0;
  if (given !== expected)
    throw new FanoutError("validation_failed", `the D1 query "${spec.query}" takes ${expected} parameter(s), got ${given}`);
  try {
    const result = await abortable(
      deps.bindings.db
        .prepare(sql)
        .bind(...(spec.params ?? []))
        .all(),
      signal,
    );
    return { ok: true, status: 200, body: result.results, headers: { "x-d1-rows-read": String(result.meta.rows_read ?? 0) } };
  } catch (error) {
    if (signal.aborted) throw error;
    // D1's own message can name tables and columns: it is logged with the cause, never shown.
    throw new FanoutError("storage_error", `the D1 query "${spec.query}" failed in the database`, { cause: error });
  }
}
