import { z } from "@hono/zod-openapi";
import { STEP_ERROR_CODES } from "../../lib/base/errors";
import type { Same } from "../../lib/base/schema";
import { BULK_KIND } from "../../lib/batch/bulk";
import { parseCommonBatch } from "../../lib/batch/common-batch";
import { stepCountsSchema } from "../../lib/batch/outcome";
import { BATCH_MODES, type StepResult } from "../../lib/batch/scheduler";
import { type BatchRequestBody, batchRequestOf, Callback, commonStepFields, stepSchemas } from "../../lib/batch/schema";
import type { PublicBatchResult, summaryOf } from "../../lib/batch/service";
import { type AnyStepKind, STEPS, type StepRegistry } from "../../lib/batch/steps/index";
import type { SpecOf } from "../../lib/batch/steps/kind";

/**
 * The batch request and response of POST /v1/batch as the OpenAPI document names them. The request's
 * schemas are lib/batch/schema.ts's (plain zod, from the registry of step kinds); this file only names
 * them for the document (the spec HttpStep, the variant StepHttp, Step, Callback, BatchRequest) and
 * declares the answers.
 */

const capitalized = (kind: string) => `${kind[0]!.toUpperCase()}${kind.slice(1)}`;

/** A kind's spec as a named component (HttpStep, KvStep, ...), one per module however many registries use it. */
const specComponents = new WeakMap<AnyStepKind, z.ZodType>();
function specComponent<M extends AnyStepKind>(module: M): z.ZodType<SpecOf<M>> {
  let named = specComponents.get(module);
  if (!named) {
    // A clone: lib/ builds its schemas with plain zod, maybe before @hono/zod-openapi added `.openapi()` to new ones.
    named = module.schema.clone().openapi(`${capitalized(module.kind)}Step`);
    specComponents.set(module, named);
  }
  return named as z.ZodType<SpecOf<M>>;
}

/** A property a variant does not allow: absent, `not: {}` in the document (`?: never` in generated clients). */
const Absent = z
  .unknown()
  .refine((value) => value === undefined, "not in this kind of step")
  .optional()
  .openapi({ not: {} });

const NamedCallback = Callback.clone().openapi("Callback");

/**
 * The step schemas of a registry, named for the document. `Step` validates (lib/batch/schema.ts),
 * wording its messages for people; the variants are the documented form, one object per kind with the
 * other kinds absent, so the document's `oneOf` refuses what `Step` refuses (test/functions/openapi.test.ts
 * checks that both give the same verdicts).
 */
export function documentedStepSchemas<M extends AnyStepKind>(kinds: StepRegistry<M>) {
  const variants = kinds.modules.map((module) => {
    const { kind } = module;
    const name = `Step${capitalized(kind)}`;
    const others = Object.fromEntries(kinds.kinds.filter((other) => other !== kind).map((other) => [other, Absent]));
    // Only an http step sends its forEach in bulk calls (the plan refuses `batch` on the others).
    const bulk = kind === BULK_KIND ? {} : { batch: Absent };
    const schema = z
      .object({ ...commonStepFields, [kind]: specComponent(module), ...others, ...bulk })
      .strict()
      .openapi(name, { description: `A ${kind} step` });
    return { kind, name, schema };
  });
  const Step = stepSchemas(kinds, specComponent).Step.openapi("Step", {
    // The document states the rule (exactly one kind) as a oneOf; the validator checks it with clearer messages.
    type: "object",
    oneOf: variants.map(({ name }) => ({ $ref: `#/components/schemas/${name}` })),
    description: `A step has an id and exactly one of ${kinds.kinds.join(", ")}`,
  });
  return { variants, Step, BatchRequest: batchRequestOf(Step, NamedCallback).openapi("BatchRequest") };
}

/**
 * A request schema that takes the hand-written check's value when it has one (lib/batch/common-batch.ts:
 * the common batch, checked without zod's per-field walk) and asks zod otherwise, so zod still words every
 * error and the document is still zod's. The validator calls `safeParseAsync`; only that is replaced.
 */
function commonShapeFirst<S extends z.ZodType<BatchRequestBody>>(schema: S): S {
  const zodCheck = schema.safeParseAsync.bind(schema);
  const check = async (value: unknown, params?: Parameters<S["safeParseAsync"]>[1]) => {
    const data = parseCommonBatch(value);
    return data === undefined ? zodCheck(value, params) : { success: true as const, data };
  };
  (schema as { safeParseAsync: typeof check }).safeParseAsync = check;
  return schema;
}

const production = documentedStepSchemas(STEPS);
/** Production's step schemas, from production's registry; its request checked common shape first. */
export const { variants: STEP_VARIANTS, Step } = production;
export const BatchRequest = commonShapeFirst(production.BatchRequest);

const StepErrorSchema = z
  .object({
    code: z.enum(STEP_ERROR_CODES),
    message: z.string(),
    dependency: z.string().optional(),
    reason: z.enum(["condition_false"]).optional().openapi({
      description: "skipped: its when was false, or (with dependency) the dependency was skipped for that reason",
    }),
  })
  .openapi("StepError");

const StepResultSchema = z
  .object({
    ok: z.boolean(),
    status: z.number().int().optional(),
    headers: z.record(z.string(), z.string()).optional(),
    body: z.unknown().optional(),
    error: StepErrorSchema.optional(),
    startMs: z.number(),
    durationMs: z.number(),
    attempts: z.number().int().optional(),
    hedged: z.boolean().optional(),
    coalesced: z.boolean().optional(),
    bytes: z.number().int().optional(),
    items: z
      .array(
        z.object({
          ok: z.boolean(),
          status: z.number().int().optional(),
          error: StepErrorSchema.optional(),
          attempts: z.number().int().optional(),
          coalesced: z.boolean().optional(),
        }),
      )
      .optional(),
  })
  .openapi("StepResult");
// The documented result record and the one lib/ builds are the same type: a field added to one fails here.
true satisfies Same<z.output<typeof StepResultSchema>, StepResult>;

const summaryFields = {
  completed: z.boolean(),
  mode: z.enum(BATCH_MODES),
  durationMs: z.number(),
  counts: stepCountsSchema(z.number()),
};

export const BatchResponse = z.object({ ...summaryFields, results: z.record(z.string(), StepResultSchema) }).openapi("BatchResponse");
true satisfies Same<z.output<typeof BatchResponse>, PublicBatchResult>;

/** The summary that ends a stream: the batch answer without its results. */
const BatchSummary = z.object(summaryFields).openapi("BatchSummary");
true satisfies Same<z.output<typeof BatchSummary>, ReturnType<typeof summaryOf>>;

/** One settled step, as a stream sends it: its id and its result. */
const StepResultEvent = StepResultSchema.extend({ id: z.string() }).openapi("StepResultEvent");

/** `Accept: application/x-ndjson`: each line is one of these, `result` lines first, one `summary` line last. */
export const BatchLine = z
  .discriminatedUnion("type", [
    StepResultEvent.extend({ type: z.literal("result") }).openapi("BatchResultLine"),
    BatchSummary.extend({ type: z.literal("summary") }).openapi("BatchSummaryLine"),
  ])
  .openapi("BatchLine", { description: "One line of the NDJSON answer (each line is one JSON object)" });

/** `Accept: text/event-stream`: `result` events (id = the step id), then one `summary` event; `data` is JSON. */
export const BatchEvent = z
  .object({
    event: z.enum(["result", "summary"]),
    id: z.string().optional().openapi({ description: "The step id (result events)" }),
    data: z.string().openapi({
      description: "A StepResultEvent (event: result) or a BatchSummary (event: summary), as JSON",
      // OpenAPI 3.1 (JSON Schema 2020-12) keywords that the metadata type (written for 3.0) does not list.
      ...({
        contentMediaType: "application/json",
        contentSchema: { oneOf: [{ $ref: "#/components/schemas/StepResultEvent" }, { $ref: "#/components/schemas/BatchSummary" }] },
      } as object),
    }),
  })
  .openapi("BatchEvent", { description: "One server-sent event of the SSE answer" });

export const JobAccepted = z.object({ id: z.string(), state: z.literal("queued"), statusUrl: z.string() }).openapi("JobAccepted");
