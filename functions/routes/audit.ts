import { createRoute, z } from "@hono/zod-openapi";
import type { Same } from "../../lib/base/schema";
import { stepCountsSchema } from "../../lib/batch/outcome";
import { listAudit, type StoredAuditRecord } from "../../lib/jobs/audit";
import { problemResponses } from "../http/problem";
import { createRouter, integer } from "../http/router";

const audit = createRouter();
// Admin keys only: functions/access.ts.

const AuditRecord = z
  .object({
    id: z.number(),
    createdAt: z.string(),
    requestId: z.string(),
    keyId: z.string(),
    jobId: z.string().nullable(),
    async: z.boolean(),
    mode: z.string(),
    steps: z.number(),
    counts: stepCountsSchema(z.number()),
    durationMs: z.number(),
    bytes: z.number(),
  })
  .openapi("AuditRecord");
true satisfies Same<z.output<typeof AuditRecord>, StoredAuditRecord>;

audit.openapi(
  createRoute({
    method: "get",
    path: "/",
    operationId: "listAudit",
    tags: ["audit"],
    summary: "Page through audit records (admin keys only)",
    request: {
      query: z.object({
        since: z.iso.datetime({ error: "since must be an ISO 8601 date-time" }).default("1970-01-01T00:00:00.000Z"),
        limit: integer("limit", 1, 500).default(100),
        cursor: integer("cursor", 0, Number.MAX_SAFE_INTEGER).default(0).openapi({ description: "nextCursor of the previous page" }),
      }),
    },
    responses: {
      200: {
        description: "A page of records, oldest first",
        content: { "application/json": { schema: z.object({ records: z.array(AuditRecord), nextCursor: z.number().nullable() }) } },
      },
      ...problemResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const { since, limit, cursor } = c.req.valid("query");
    return c.json(await listAudit(c.env.DB, { since, limit, cursor }), 200);
  },
);

export default audit;
