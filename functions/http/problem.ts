import { z } from "@hono/zod-openapi";
import { ERROR_CODES, type ErrorCode, type FanoutError, PRIVATE_DETAIL_CODES, publicDetail } from "../../lib/base/errors";

/** RFC 9457 problem details: the one shape every error of fanout is rendered in. */

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: "urn:fanout:problem:validation_failed" }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]),
    instance: z.string(),
    requestId: z.string().optional(),
    invalidParams: z.array(z.object({ name: z.string(), reason: z.string() })).optional(),
  })
  .openapi("Problem");

export type Problem = z.infer<typeof ProblemSchema>;

/** For OpenAPI: `responses: { ...problemResponses(400, 404) }`. */
export function problemResponses(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: `Problem (${status})`, content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } } },
    ]),
  );
}

const TITLES: Partial<Record<ErrorCode, string>> = {
  validation_failed: "Invalid request",
  not_found: "Not found",
  method_not_allowed: "Method not allowed",
  forbidden_target: "Target not allowed",
  timeout: "Upstream timed out",
  deadline_exceeded: "Deadline exceeded",
  not_configured: "Not configured",
  internal: "Internal error",
};

export function toProblem(error: FanoutError, instance: string, requestId: string | undefined): Problem {
  const detail = publicDetail(error, requestId);
  const problem: Problem = {
    type: `urn:fanout:problem:${error.code}`,
    title: TITLES[error.code] ?? error.code.replaceAll("_", " "),
    status: error.status,
    detail,
    code: error.code,
    instance,
    requestId,
  };
  if (error.invalidParams.length > 0 && !PRIVATE_DETAIL_CODES.has(error.code)) problem.invalidParams = error.invalidParams;
  return problem;
}
