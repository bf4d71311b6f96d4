import { z } from "zod";
import { abortable } from "../../async/timers";
import { toBase64 } from "../../base/bytes";
import { overBudget, overLimit } from "../../base/http";
import { checkPrefix } from "../../base/policy";
import { type BatchContext, type StepRun, stepReadLimits } from "./context";
import { parseStepJson } from "./json";
import { defineStepKind, ONE_SUBREQUEST } from "./kind";
import type { StepOutput } from "./output";
import { storageCall } from "./storage";

/** The r2 step: get / head / byte range under R2_PREFIXES, the body as text, JSON, base64 or metadata only. */

export interface R2Spec {
  key: string;
  head?: boolean;
  range?: { offset: number; length?: number };
  as: "text" | "json" | "base64" | "metadata";
}

export const R2Step = z
  .object({
    key: z.string().min(1).max(1024),
    head: z.boolean().optional(),
    range: z
      .object({ offset: z.number().int().min(0), length: z.number().int().min(1).optional() })
      .strict()
      .optional(),
    as: z.enum(["text", "json", "base64", "metadata"]).default("text"),
  })
  .strict() satisfies z.ZodType<R2Spec>;

function metadata(object: R2Object) {
  return {
    key: object.key,
    size: object.size,
    etag: object.etag,
    uploaded: object.uploaded.toISOString(),
    contentType: object.httpMetadata?.contentType ?? null,
    customMetadata: object.customMetadata ?? {},
  };
}

/** What the r2 step uses of its batch. */
export type R2Deps = Pick<BatchContext, "bindings" | "r2Prefixes" | "maxStepResponseBytes" | "budgets">;

/** Reads an R2 object (or its metadata, or a byte range); failures name their reason as `storage_error`. */
export async function runR2(spec: R2Spec, { deps, signal, slot }: StepRun<R2Deps>): Promise<StepOutput> {
  checkPrefix(spec.key, deps.r2Prefixes, "R2 key", "R2_PREFIXES");
  const headOnly = spec.head || spec.as === "metadata";
  const { bucket } = deps.bindings;
  const object: R2Object | R2ObjectBody | null = await storageCall(
    () => (headOnly ? bucket.head(spec.key) : bucket.get(spec.key, spec.range ? { range: spec.range } : undefined)),
    signal,
    (error) =>
      spec.range && /range is not satisfiable/i.test(String((error as Error)?.message))
        ? `the range (offset ${spec.range.offset}${spec.range.length === undefined ? "" : `, length ${spec.range.length}`}) is past the end of R2 object "${spec.key}"`
        : `the R2 read of "${spec.key}" failed`,
  );
  // The object's metadata is here; its body is read outside the batch's slot (as an http step's).
  slot?.release();
  if (!object) return { ok: false, status: 404, body: null, error: { code: "not_found", message: `no R2 object "${spec.key}"` } };
  if (headOnly) return { ok: true, status: 200, body: metadata(object) };
  const withBody = object as R2ObjectBody;

  // The size is known before the body is read: check it against the step's cap and charge the batch's budget up front.
  const limits = stepReadLimits(deps);
  const length = spec.range ? Math.min(spec.range.length ?? object.size, object.size - spec.range.offset) : object.size;
  if (length > limits.maxBytes || !limits.budget!.tryTake(length)) {
    await withBody.body.cancel();
    throw length > limits.maxBytes ? overLimit(limits.maxBytes, limits.maxName) : overBudget(limits.budget!, limits.budgetName);
  }
  const bytes = new Uint8Array(await abortable(withBody.arrayBuffer(), signal));
  const status = spec.range ? 206 : 200;
  const text = () => new TextDecoder().decode(bytes);
  let body: unknown;
  if (spec.as === "base64") body = { base64: toBase64(bytes) };
  else if (spec.as === "json") {
    const parsed = parseStepJson(text(), `R2 object "${spec.key}"`);
    if (parsed) body = parsed.value;
    else {
      return {
        ok: false,
        status,
        error: { code: "storage_error", message: `R2 object "${spec.key}" is not valid JSON (read it with as: "text")` },
        bytes: bytes.byteLength,
      };
    }
  } else body = text();
  return {
    ok: true,
    status,
    headers: { "content-type": object.httpMetadata?.contentType ?? "application/octet-stream", etag: object.httpEtag },
    body,
    bytes: bytes.byteLength,
  };
}

export const r2 = defineStepKind<"r2", R2Spec, R2Deps>({
  kind: "r2",
  schema: R2Step,
  run: runR2,
  cost: ONE_SUBREQUEST,
  expectedMs: 10,
  errors: ["forbidden_target", "not_found", "storage_error", "response_too_large", "budget_exhausted"],
});
