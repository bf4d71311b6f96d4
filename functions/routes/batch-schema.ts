import { z } from "@hono/zod-openapi";
import { SECRET_PATTERN } from "../../lib/base/config";
import { STEP_ERROR_CODES } from "../../lib/base/errors";
import { stepCountsSchema } from "../../lib/batch/outcome";
import { BATCH_MODES, type StepResult } from "../../lib/batch/scheduler";
import type { BatchRequestInput, PublicBatchResult, summaryOf } from "../../lib/batch/service";
import { ClientJson, PickPath } from "../../lib/batch/steps/fields";
import { type AnyStepKind, STEPS, type StepRegistry } from "../../lib/batch/steps/index";
import type { SpecOf } from "../../lib/batch/steps/kind";
import type { Same } from "../http/router";

/**
 * The request and response of POST /v1/batch. A step's kinds come from the registry
 * (lib/batch/steps/index.ts): each kind module's plain zod schema is the spec, so what is validated
 * here is exactly what its executor accepts; this file only names them for the document.
 */

export { ClientJson, PickPath };

export const StepId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "a step id is 1-64 letters, digits, _ or -");

/** The fields of every step besides its kind. */
const commonFields = {
  id: StepId,
  dependsOn: z.array(StepId).max(100).optional(),
  forEach: z
    .union(
      [
        z.string().regex(/^\{\{[^{}]*\}\}$/, "a reference to an array, written as one {{...}}"),
        z.array(ClientJson).max(1000, "at most 1000 items (and at most MAX_STEPS steps in all)"),
      ],
      { error: "an array, or a {{reference}} to one" },
    )
    .optional()
    .openapi({
      description: "A reference to an array ({{posts.body[*].id}}) or a literal array; {{item}} and {{index}} name each element",
    }),
  expectedMs: z.number().int().min(0).max(300_000).optional().openapi({
    description: "Expected duration of one execution in ms, for scheduling (critical path first); a hint, never a limit",
  }),
};

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

type KindFields<M extends AnyStepKind> = { [K in M as K["kind"]]: z.ZodOptional<z.ZodType<SpecOf<K>>> };

/** A property a variant does not allow: absent, `not: {}` in the document (`?: never` in generated clients). */
const Absent = z
  .unknown()
  .refine((value) => value === undefined, "not in this kind of step")
  .optional()
  .openapi({ not: {} });

/**
 * The step schemas of a registry. `Step` validates, wording its messages for people; the variants are
 * the documented form, one object per kind with the other kinds absent, so the document's `oneOf`
 * refuses what `Step` refuses (test/functions/openapi.test.ts checks that both give the same verdicts).
 */
export function stepSchemas<M extends AnyStepKind>(kinds: StepRegistry<M>) {
  const kindFields = Object.fromEntries(kinds.modules.map((module) => [module.kind, specComponent(module).optional()])) as KindFields<M>;
  /** The fields of a step (a composite's step adds `required`). */
  const stepFields = { ...commonFields, ...kindFields };
  /** A step has exactly one kind. */
  const oneKindPerStep = (step: object, ctx: z.RefinementCtx): void => {
    const problem = kinds.oneKindProblem(step);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  };
  const variants = kinds.modules.map((module) => {
    const { kind } = module;
    const name = `Step${capitalized(kind)}`;
    const others = Object.fromEntries(kinds.kinds.filter((other) => other !== kind).map((other) => [other, Absent]));
    const schema = z
      .object({ ...commonFields, [kind]: specComponent(module), ...others })
      .strict()
      .openapi(name, { description: `A ${kind} step` });
    return { kind, name, schema };
  });
  const Step = z
    .object(stepFields)
    .strict()
    .superRefine(oneKindPerStep)
    .openapi("Step", {
      // The document states the rule (exactly one kind) as a oneOf; the validator checks it with clearer messages.
      type: "object",
      oneOf: variants.map(({ name }) => ({ $ref: `#/components/schemas/${name}` })),
      description: `A step has an id and exactly one of ${kinds.kinds.join(", ")}`,
    });
  return { stepFields, oneKindPerStep, variants, Step, BatchRequest: batchRequestOf(Step) };
}

const Callback = z
  .object({
    url: z.string().url("callback.url must be an absolute URL").max(4096),
    secret: z.string().regex(SECRET_PATTERN, "a Standard Webhooks secret: whsec_<base64>").optional(),
  })
  .strict()
  .openapi("Callback", { description: "Run the batch after the response (202) and POST the signed result here" });

function batchRequestOf<S extends z.ZodType>(Step: S) {
  return z
    .object({
      steps: z.array(Step).min(1, "a batch has at least one step"),
      callback: Callback.optional(),
      mode: z.enum(BATCH_MODES).default("allSettled"),
      concurrency: z.number().int().min(1).optional().openapi({ description: "Default DEFAULT_CONCURRENCY (6); at most MAX_CONCURRENCY" }),
      deadlineMs: z
        .number()
        .int()
        .min(1)
        .optional()
        .openapi({ description: "Default DEFAULT_DEADLINE_MS (10 s); at most MAX_DEADLINE_MS (30 s)" }),
    })
    .strict()
    .openapi("BatchRequest");
}

/** Production's step schemas, from production's registry. */
export const { stepFields, oneKindPerStep, variants: STEP_VARIANTS, Step, BatchRequest } = stepSchemas(STEPS);

export type BatchRequestBody = z.output<typeof BatchRequest>;
// What the route validates is what the batch service runs.
true satisfies Same<Omit<BatchRequestBody, "callback">, BatchRequestInput>;

const StepErrorSchema = z
  .object({ code: z.enum(STEP_ERROR_CODES), message: z.string(), dependency: z.string().optional() })
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
