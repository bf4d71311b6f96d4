import { z } from "zod";
import { HEADER_VALUE } from "../../base/http";
import { MAX_REDIRECTS } from "../../base/limits";
import { MAX_JSON_DEPTH } from "../template";
import { ClientJson, demoUrlProblems, ms, PickPath, StepUrl } from "./fields";
import { HTTP_METHODS, type HttpDeps, type HttpSpec, runHttp } from "./http-call";
import { defineStepKind } from "./kind";

/** The http step: an allow-listed upstream call with per-attempt timeout, retries, hedging, coalescing and limits. */

export { pick } from "./http-body";
export { type HttpDeps, type HttpMethod, type HttpSpec, runHttp } from "./http-call";

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
    method: z.enum(HTTP_METHODS).default("GET"),
    headers: StepHeaders.optional(),
    body: ClientJson.optional().meta({
      description: `A string is sent as text, anything else as JSON (at most ${MAX_JSON_DEPTH} levels deep); not with GET or HEAD`,
    }),
    timeoutMs: ms(300_000).min(1).optional().meta({ description: "Per attempt; default DEFAULT_TIMEOUT_MS, never past the deadline" }),
    retry: z
      .object({ attempts: z.number().int().min(1).max(5), baseDelayMs: ms(10_000).optional(), maxDelayMs: ms(60_000).optional() })
      .strict()
      .optional(),
    hedge: z
      .object({ afterMs: ms(60_000).min(1) })
      .strict()
      .optional()
      .meta({ description: "GET/HEAD only" }),
    pick: z.array(PickPath).max(50).optional().meta({ description: "Keep only these dot paths of a JSON body" }),
    idempotencyKey: z
      .string()
      .min(1)
      .max(256)
      .regex(HEADER_VALUE, "printable ASCII only: no CR, LF or NUL, other control characters or non-ASCII text (it is sent as a header)")
      .optional()
      .meta({ description: "Sent as Idempotency-Key; makes a non-idempotent method retryable" }),
    maxRedirects: z.number().int().min(0).max(MAX_REDIRECTS).default(MAX_REDIRECTS),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.hedge && spec.method !== "GET" && spec.method !== "HEAD")
      ctx.addIssue({ code: "custom", path: ["hedge"], message: "hedging is only for GET and HEAD" });
    if (spec.body !== undefined && (spec.method === "GET" || spec.method === "HEAD")) {
      ctx.addIssue({ code: "custom", path: ["body"], message: `a ${spec.method} request has no body` });
    }
  }) satisfies z.ZodType<HttpSpec>;

export const http = defineStepKind<"http", HttpSpec, HttpDeps>({
  kind: "http",
  schema: HttpStep,
  run: runHttp,
  // In-process URLs cost nothing; an upstream call, every attempt, hedge and redirect hop it may take.
  cost: (spec, { isInProcess }) =>
    isInProcess(spec.url) ? 0 : (spec.retry?.attempts ?? 1) * (spec.hedge ? 2 : 1) * (1 + spec.maxRedirects),
  expectedMs: 100,
  check: (spec, config) => demoUrlProblems(spec.url, config),
  errors: [
    "http_status",
    "network",
    "timeout",
    "forbidden_target",
    "redirect_blocked",
    "response_too_large",
    "circuit_open",
    "validation_failed",
    // A bulk forEach's item that no element of the answer matched (lib/batch/bulk.ts).
    "not_found",
  ],
});
