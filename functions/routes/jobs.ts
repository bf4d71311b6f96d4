import { createRoute, z } from "@hono/zod-openapi";
import { ERROR_CODES, type ErrorCode, FanoutError } from "../../lib/base/errors";
import type { Same } from "../../lib/base/schema";
import { CALLBACK_STATES, JOB_RUNNERS, JOB_STATES, JobStore, type PublicJob } from "../../lib/jobs/store";
import { DELIVERY_OUTCOMES } from "../../lib/jobs/webhooks";
import { problemResponses } from "../http/problem";
import { createRouter } from "../http/router";
import { BatchResponse } from "./batch-schema";

const jobs = createRouter();

const Job = z
  .object({
    id: z.string(),
    state: z.enum(JOB_STATES),
    runner: z.enum(JOB_RUNNERS),
    statusUrl: z.string(),
    createdAt: z.string(),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
    result: BatchResponse.optional().openapi({ description: "The batch result (as POST /v1/batch answers it) once the job is done" }),
    error: z.object({ code: z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]), message: z.string() }).optional(),
    callback: z
      .object({
        url: z.string(),
        state: z.enum(CALLBACK_STATES),
        attempts: z.array(
          z.object({
            attempt: z.number(),
            at: z.string(),
            outcome: z.enum(DELIVERY_OUTCOMES),
            status: z.number().optional(),
            error: z.string().optional(),
            nextDelaySeconds: z.number().optional(),
          }),
        ),
      })
      .optional(),
  })
  .openapi("Job");
true satisfies Same<z.output<typeof Job>, PublicJob>;

const routes = jobs.openapi(
  createRoute({
    method: "get",
    path: "/{id}",
    operationId: "getJob",
    tags: ["jobs"],
    summary: "An async batch job: its state, result and callback deliveries",
    request: { params: z.object({ id: z.uuid("id must be a job id (UUID)").openapi({ param: { name: "id", in: "path" } }) }) },
    responses: {
      200: { description: "The job", content: { "application/json": { schema: Job } } },
      ...problemResponses(400, 401, 404),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const job = await new JobStore(c.env.KV, c.var.config.JOB_TTL_SECONDS).getFor(id, c.var.apiKeyId!);
    if (!job) throw new FanoutError("not_found", `no job ${id} for this API key (or it has expired)`);
    return c.json(job, 200);
  },
);

export default routes;
