import { z } from "zod";
import type { Config } from "../../base/config";
import { didYouMean, listNames } from "../../base/suggest";
import type { BatchContext, StepRun } from "./context";
import { NO_PROBLEMS } from "./fields";
import { defineStepKind, ONE_SUBREQUEST, type SpecProblem } from "./kind";
import type { StepOutput } from "./output";
import { storageCall } from "./storage";

/** The d1 step: D1 runs only named, read-only queries from configuration (D1_QUERIES); a client never sends SQL. */

export interface D1Spec {
  query: string;
  params?: Array<string | number | boolean | null>;
}

export const D1Step = z
  .object({
    query: z.string().regex(/^\w{1,64}$/, "a query name from D1_QUERIES"),
    params: z
      .array(z.union([z.string(), z.number(), z.boolean(), z.null()]))
      .max(100)
      .optional(),
  })
  .strict() satisfies z.ZodType<D1Spec>;

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

/** What the d1 step uses of its batch. */
export type D1Deps = Pick<BatchContext, "bindings" | "d1Queries">;

/** An unknown query's reason: the configured names (never their SQL) and the nearest one, so the fix is in the message. */
function unknownQuery(query: string, names: readonly string[]): string {
  return `no named query "${query}" (D1_QUERIES: ${listNames(names)})${didYouMean(query, names)}`;
}

/** The query must be one of D1_QUERIES and get exactly as many parameters as it takes (checked once, before the batch runs). */
function checkD1(spec: D1Spec, config: Config): readonly SpecProblem[] {
  if (!Object.hasOwn(config.D1_QUERIES, spec.query))
    return [{ field: "query", reason: unknownQuery(spec.query, Object.keys(config.D1_QUERIES)) }];
  const expected = d1ParamCount(config.D1_QUERIES[spec.query]!);
  const given = spec.params?.length ?? 0;
  if (given !== expected) return [{ field: "params", reason: `the query "${spec.query}" takes ${expected} parameter(s), got ${given}` }];
  return NO_PROBLEMS;
}

/** Runs a named D1 query (its name and parameter count were checked by `checkD1`); database failures are `storage_error`. */
export async function runD1(spec: D1Spec, { deps, signal }: StepRun<D1Deps>): Promise<StepOutput> {
  const sql = deps.d1Queries[spec.query]!;
  const db = deps.bindings.db;
  // D1's own message can name tables and columns: it stays the cause (logged), never shown.
  const result = await storageCall(
    () =>
      db
        .prepare(sql)
        .bind(...(spec.params ?? []))
        .all(),
    signal,
    () => `the D1 query "${spec.query}" failed in the database`,
  );
  return { ok: true, status: 200, body: result.results, headers: { "x-d1-rows-read": String(result.meta.rows_read ?? 0) } };
}

export const d1 = defineStepKind<"d1", D1Spec, D1Deps>({
  kind: "d1",
  schema: D1Step,
  run: runD1,
  cost: ONE_SUBREQUEST,
  expectedMs: 10,
  check: checkD1,
  errors: ["storage_error"],
});
