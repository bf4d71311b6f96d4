import { z } from "zod";
import { SECRET_PATTERN } from "../base/config";
import type { Same } from "../base/schema";
import { BulkCalls } from "./bulk";
import { MAX_CONDITION_CHARS } from "./condition";
import { BATCH_MODES } from "./scheduler";
import type { BatchRequestInput } from "./service";
import { ClientJson } from "./steps/fields";
import { type AnyStepKind, STEPS, type StepRegistry } from "./steps/index";
import type { SpecOf } from "./steps/kind";

/**
 * The batch request (the body of POST /v1/batch) and its steps, in plain zod (`.meta()` for the
 * document's descriptions). A step's kinds come from the registry (steps/index.ts): each kind
 * module's schema is the spec, so what is validated is exactly what its executor accepts. The
 * composites file's steps are these steps too. functions/routes/batch-schema.ts names the pieces for
 * the OpenAPI document (HttpStep, Step and its variants, Callback, BatchRequest).
 */

export const StepId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "a step id is 1-64 letters, digits, _ or -");

/** The fields of every step besides its kind. */
export const commonStepFields = {
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
    .meta({
      description: "A reference to an array ({{posts.body[*].id}}) or a literal array; {{item}} and {{index}} name each element",
    }),
  batch: BulkCalls.optional(),
  expectedMs: z.number().int().min(0).max(300_000).optional().meta({
    description: "Expected duration of one execution in ms, for scheduling (critical path first); a hint, never a limit",
  }),
  when: z
    .string()
    .min(1, 'a condition, e.g. user.body.plan == "pro"')
    .max(MAX_CONDITION_CHARS, `at most ${MAX_CONDITION_CHARS} characters (MAX_CONDITION_CHARS)`)
    .optional()
    .meta({
      description:
        "Run the step only when this holds, evaluated once its dependencies have settled; otherwise it is skipped (error.reason condition_false). " +
        "Reads earlier steps (user.status, user.body.plan) and, in a composite, params, query and headers; " +
        "== != < <= > >=, in [literals], exists path, and, or, not, parentheses, JSON literals. Different types are never equal",
      examples: ['user.body.plan in ["pro", "team"] and exists user.body.email'],
    }),
};

export type KindFields<M extends AnyStepKind> = { [K in M as K["kind"]]: z.ZodOptional<z.ZodType<SpecOf<K>>> };

/** A kind's spec schema as the step's field holds it: the module's own, unless the caller names it (for a document). */
export type SpecSchemaOf = <M extends AnyStepKind>(module: M) => z.ZodType<SpecOf<M>>;

const ownSpec: SpecSchemaOf = (module) => module.schema;

/**
 * The step schemas of a registry: the fields of a step (a composite's step adds `required`), the
 * rule that a step has exactly one kind, worded for people, and `Step`, which applies both.
 */
export function stepSchemas<M extends AnyStepKind>(kinds: StepRegistry<M>, specOf: SpecSchemaOf = ownSpec) {
  const kindFields = Object.fromEntries(kinds.modules.map((module) => [module.kind, specOf(module).optional()])) as KindFields<M>;
  /** The fields of a step (a composite's step adds `required`). */
  const stepFields = { ...commonStepFields, ...kindFields };
  /** A step has exactly one kind. */
  const oneKindPerStep = (step: object, ctx: z.RefinementCtx): void => {
    const problem = kinds.oneKindProblem(step);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  };
  const Step = z.object(stepFields).strict().superRefine(oneKindPerStep);
  return { stepFields, oneKindPerStep, Step };
}

export const Callback = z
  .object({
    url: z.string().url("callback.url must be an absolute URL").max(4096),
    secret: z.string().regex(SECRET_PATTERN, "a Standard Webhooks secret: whsec_<base64>").optional(),
  })
  .strict()
  .meta({ description: "Run the batch after the response (202) and POST the signed result here" });

/** The batch request of the given step schema (and callback schema, for a document that names it). */
export function batchRequestOf<S extends z.ZodType>(Step: S, callback: typeof Callback = Callback) {
  return z
    .object({
      steps: z.array(Step).min(1, "a batch has at least one step"),
      callback: callback.optional(),
      mode: z.enum(BATCH_MODES).default("allSettled"),
      concurrency: z.number().int().min(1).optional().meta({ description: "Default DEFAULT_CONCURRENCY (6); at most MAX_CONCURRENCY" }),
      deadlineMs: z
        .number()
        .int()
        .min(1)
        .optional()
        .meta({ description: "Default DEFAULT_DEADLINE_MS (10 s); at most MAX_DEADLINE_MS (30 s)" }),
    })
    .strict();
}

/** Production's step schemas, from production's registry. */
export const { stepFields, oneKindPerStep, Step } = stepSchemas(STEPS);
export const BatchRequest = batchRequestOf(Step);

export type BatchRequestBody = z.output<typeof BatchRequest>;
// What a batch request validates to is what the batch service runs.
true satisfies Same<Omit<BatchRequestBody, "callback">, BatchRequestInput>;
