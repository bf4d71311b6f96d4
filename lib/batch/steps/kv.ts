import { z } from "zod";
import { FanoutError } from "../../base/errors";
import { checkPrefix } from "../../base/policy";
import type { BatchContext, StepRun } from "./context";
import { parseStepJson } from "./json";
import { defineStepKind, ONE_SUBREQUEST } from "./kind";
import type { StepOutput } from "./output";
import { storageCall } from "./storage";

/** The kv step: one key (404 when absent) or many with one bulk read, under KV_PREFIXES. */

export interface KvSpec {
  key?: string;
  keys?: string[];
  type: "text" | "json";
}

const KvKey = z.string().min(1).max(512);

export const KvStep = z
  .object({ key: KvKey.optional(), keys: z.array(KvKey).min(1).max(100).optional(), type: z.enum(["text", "json"]).default("text") })
  .strict()
  .refine((spec) => (spec.key === undefined) !== (spec.keys === undefined), "give exactly one of key or keys") satisfies z.ZodType<KvSpec>;

function parseKvJson(text: string, key: string): unknown {
  const parsed = parseStepJson(text, `the KV value of "${key}"`);
  if (!parsed) throw new FanoutError("storage_error", `the KV value of "${key}" is not valid JSON (read it with type "text")`);
  return parsed.value;
}

function describeKeys(keys: readonly string[]): string {
  return keys.length === 1 ? `"${keys[0]}"` : `${keys.length} keys`;
}

/** What the kv step uses of its batch. */
export type KvDeps = Pick<BatchContext, "kvPrefixes" | "coalesce">;

/** Reads one key (404 when absent) or many keys with one bulk read (absent keys are null). */
export async function runKv(spec: KvSpec, { deps, signal }: StepRun<KvDeps>): Promise<StepOutput> {
  const keys = spec.keys ?? [spec.key!];
  for (const key of keys) checkPrefix(key, deps.kvPrefixes, "KV key", "KV_PREFIXES");
  const { values, coalesced } = deps.coalesce.kv.read(keys);
  const texts = await storageCall(
    () => values,
    signal,
    () => `the KV read of ${describeKeys(keys)} failed`,
  );
  const read = spec.type === "text" ? texts : texts.map((text, index) => (text === null ? null : parseKvJson(text, keys[index]!)));
  if (spec.key !== undefined) {
    const value = read[0];
    if (value === null)
      return { ok: false, status: 404, body: null, coalesced, error: { code: "not_found", message: `no KV value for "${spec.key}"` } };
    return { ok: true, status: 200, body: value, coalesced };
  }
  return { ok: true, status: 200, body: Object.fromEntries(keys.map((key, index) => [key, read[index]])), coalesced };
}

export const kv = defineStepKind<"kv", KvSpec, KvDeps>({
  kind: "kv",
  schema: KvStep,
  run: runKv,
  cost: ONE_SUBREQUEST,
  expectedMs: 10,
  errors: ["forbidden_target", "not_found", "storage_error", "response_too_large"],
});
