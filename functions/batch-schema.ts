import { z } from "@hono/zod-openapi";
import { SECRET_PATTERN } from "../lib/base/config";
import { STEP_ERROR_CODES } from "../lib/base/errors";
import { HEADER_VALUE } from "../lib/base/http";
import { MAX_REDIRECTS } from "../lib/base/limits";
import { BATCH_MODES, type StepResult } from "../lib/batch/scheduler";
import type { BatchRequestInput, PublicBatchResult, summaryOf } from "../lib/batch/service";
import type { CacheSpec, D1Spec, HttpSpec, KvSpec, R2Spec, WaitSpec } from "../lib/batch/steps/types";
import { STEP_KINDS } from "../lib/batch/steps/types";
import { MAX_JSON_DEPTH, nestedDeeperThan, parsePickPath } from "../lib/batch/template";
import type { Same } from "./router";

/**
 * The request and response of POST /v1/batch. Each step schema `satisfies` the executor's type in
 * lib/batch/steps/types.ts, so what is validated here is exactly what the executors accept.
 */

const ms = (max: number) => z.number().int().min(0).max(max);

export const StepId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "a step id is 1-64 letters, digits, _ or -");

// A URL that starts with a reference gets its scheme at run time, where the allow-list checks it.
const StepUrl = z
  .string()
  .min(1)
  .max(4096)
  .refine(
    (url) => url.startsWith("/v1/sim/") || /^https?:\/\//i.test(url) || url.startsWith("{{"),
    "an absolute http(s) URL, a relative /v1/sim/... path served in-process, or a URL that starts with a {{reference}}",
  )
  .openapi({ example: "https://api.example.com/users/{{user.body.id}}" });

/** A JSON value from the client (a step body, a forEach item), at most MAX_JSON_DEPTH levels deep. */
export const ClientJson = z.unknown().superRefine((value, ctx) => {
  if (nestedDeeperThan(value, MAX_JSON_DEPTH)) ctx.addIssue({ code: "custom", message: `nested deeper than ${MAX_JSON_DEPTH} levels` });
});

export const PickPath = z
  .string()
  .min(1)
  .max(256)
  .superRefine((path, ctx) => {
    try {
      parsePickPath(path);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
    }
  });

/** Headers a step may not set: hop-by-hop, routing, Cloudflare's and fanout's own. */
const FORBIDDEN_STEP_HEADER =
  /^(host|connection|keep-alive|proxy-.*|te|trailer|transfer-encoding|upgrade|content-length|cf-.*|x-fanout-.*|traceparent|tracestate|x-forwarded-.*|forwarded)$/i;

const StepHeaders = z
  .record(
    z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "not a valid header name"),
    z
      .string()
      .max(8192)
      .regex(HEADER_VALUE, "a header value is printable ASCII: no CR, LF or NUL, other control characters or non-ASCII text"),
  )
  .superRefine((headers, ctx) => {
    for (const name of Object.keys(headers)) {
      if (FORBIDDEN_STEP_HEADER.test(name))
        ctx.addIssue({ code: "custom", path: [name], message: `header ${name} cannot be set by a step` });
    }
  });

export const HttpStep = z
  .object({
    url: StepUrl,
    method: z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]).default("GET"),
    headers: StepHeaders.optional(),
    body: ClientJson.optional().openapi({
      description: `A string is sent as text, anything else as JSON (at most ${MAX_JSON_DEPTH} levels deep); not with GET or HEAD`,
    }),
    timeoutMs: ms(300_000).min(1).optional().openapi({ description: "Per attempt; default DEFAULT_TIMEOUT_MS, never past the deadline" }),
    retry: z
      .object({ attempts: z.number().int().min(1).max(5), baseDelayMs: ms(10_000).optional(), maxDelayMs: ms(60_000).optional() })
      .strict()
      .optional(),
    hedge: z
      .object({ afterMs: ms(60_000).min(1) })
      .strict()
      .optional()
      .openapi({ description: "GET/HEAD only" }),
    pick: z.array(PickPath).max(50).optional().openapi({ description: "Keep only these dot paths of a JSON body" }),
    idempotencyKey: z
      .string()
      .min(1)
      .max(256)
      .regex(HEADER_VALUE, "printable ASCII only: no CR, LF or NUL, other control characters or non-ASCII text (it is sent as a header)")
      .optional()
      .openapi({ description: "Sent as Idempotency-Key; makes a non-idempotent method retryable" }),
    maxRedirects: z.number().int().min(0).max(MAX_REDIRECTS).default(MAX_REDIRECTS),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.hedge && spec.method !== "GET" && spec.method !== "HEAD")
      ctx.addIssue({ code: "custom", path: ["hedge"], message: "hedging is only for GET and HEAD" });
    if (spec.body !== undefined && (spec.method === "GET" || spec.method === "HEAD")) {
      ctx.addIssue({ code: "custom", path: ["body"], message: `a ${spec.method} request has no body` });
    }
  })
  .openapi("HttpStep") satisfies z.ZodType<HttpSpec>;

const KvKey = z.string().min(1).max(512);

export const KvStep = z
  .object({ key: KvKey.optional(), keys: z.array(KvKey).min(1).max(100).optional(), type: z.enum(["text", "json"]).default("text") })
  .strict()
  .refine((spec) => (spec.key === undefined) !== (spec.keys === undefined), "give exactly one of key or keys")
  .openapi("KvStep") satisfies z.ZodType<KvSpec>;

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
  .strict()
  .openapi("R2Step") satisfies z.ZodType<R2Spec>;

export const D1Step = z
  .object({
    query: z.string().regex(/^\w{1,64}$/, "a query name from D1_QUERIES"),
    params: z
      .array(z.union([z.string(), z.number(), z.boolean(), z.null()]))
      .max(100)
      .optional(),
  })
  .strict()
  .openapi("D1Step") satisfies z.ZodType<D1Spec>;

export const CacheStep = z
  .object({ url: StepUrl, as: z.enum(["text", "json"]).optional() })
  .strict()
  .openapi("CacheStep") satisfies z.ZodType<CacheSpec>;

export const WaitStep = z
  .object({ ms: ms(300_000) })
  .strict()
  .openapi("WaitStep") satisfies z.ZodType<WaitSpec>;

/** The fields of a step (a composite's step adds `required`). */
export const stepFields = {
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
  http: HttpStep.optional(),
  kv: KvStep.optional(),
  r2: R2Step.optional(),
  d1: D1Step.optional(),
  cache: CacheStep.optional(),
  wait: WaitStep.optional(),
};

/** A step has exactly one kind. */
export function oneKindPerStep(step: Partial<Record<(typeof STEP_KINDS)[number], unknown>>, ctx: z.RefinementCtx): void {
  const kinds = STEP_KINDS.filter((kind) => step[kind] !== undefined);
  if (kinds.length !== 1)
    ctx.addIssue({
      code: "custom",
      message: `a step has exactly one of ${STEP_KINDS.join(", ")} (found ${kinds.length === 0 ? "none" : kinds.join(", ")})`,
    });
}

const KIND_SCHEMAS = { http: HttpStep, kv: KvStep, r2: R2Step, d1: D1Step, cache: CacheStep, wait: WaitStep } satisfies Record<
  (typeof STEP_KINDS)[number],
  z.ZodType
>;

const variantName = (kind: string) => `Step${kind[0]!.toUpperCase()}${kind.slice(1)}`;

/**
 * The documented form of a step: one object per kind, the other kinds absent (`never` in generated clients),
 * so the document's `oneOf` refuses what `Step` refuses. Only the document uses them: `Step` validates, and
 * words its messages for people (test/functions/openapi.test.ts checks that both give the same verdicts).
 */
/** A property a variant does not allow: absent, `not: {}` in the document (`?: never` in generated clients). */
const Absent = z
  .unknown()
  .refine((value) => value === undefined, "not in this kind of step")
  .optional()
  .openapi({ not: {} });

export const STEP_VARIANTS = STEP_KINDS.map((kind) => {
  const others = Object.fromEntries(STEP_KINDS.filter((other) => other !== kind).map((other) => [other, Absent]));
  const { id, dependsOn, forEach, expectedMs } = stepFields;
  const schema = z
    .object({ id, dependsOn, forEach, expectedMs, [kind]: KIND_SCHEMAS[kind], ...others })
    .strict()
    .openapi(variantName(kind), { description: `A ${kind} step` });
  return { kind, name: variantName(kind), schema };
});

export const Step = z
  .object(stepFields)
  .strict()
  .superRefine(oneKindPerStep)
  .openapi("Step", {
    // The document states the rule (exactly one kind) as a oneOf; the validator checks it with clearer messages.
    type: "object",
    oneOf: STEP_VARIANTS.map(({ name }) => ({ $ref: `#/components/schemas/${name}` })),
    description: `A step has an id and exactly one of ${STEP_KINDS.join(", ")}`,
  });

const Callback = z
  .object({
    url: z.string().url("callback.url must be an absolute URL").max(4096),
    secret: z.string().regex(SECRET_PATTERN, "a Standard Webhooks secret: whsec_<base64>").optional(),
  })
  .strict()
  .openapi("Callback", { description: "Run the batch after the response (202) and POST the signed result here" });

export const BatchRequest = z
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
  counts: z.object({ ok: z.number(), failed: z.number(), skipped: z.number(), cancelled: z.number() }),
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
