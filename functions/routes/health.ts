import { createRoute, z } from "@hono/zod-openapi";
import pkg from "../../package.json";
import { createRouter } from "../http/router";

const health = createRouter();

const Health = z
  .object({
    status: z.literal("ok"),
    name: z.string(),
    version: z.string(),
    features: z.object({
      demo: z.boolean().openapi({
        description: "The demo surface is on (DEMO_ENABLED): /v1/sim/*, /v1/examples/*, relative /v1/sim/ step URLs, the demo composites",
      }),
      batch: z.boolean().openapi({ description: "POST /v1/batch is usable: API keys are configured" }),
      audit: z.boolean().openapi({ description: "Batches write audit records (AUDIT_ENABLED)" }),
      upstreamRules: z.number().int().openapi({ description: "How many allow-list rules are configured" }),
    }),
  })
  .openapi("Health");

health.openapi(
  createRoute({
    method: "get",
    path: "/healthz",
    operationId: "getHealth",
    tags: ["health"],
    summary: "Liveness, version and enabled features",
    responses: { 200: { description: "The gateway is up", content: { "application/json": { schema: Health } } } },
  }),
  (c) => {
    const { config } = c.var;
    return c.json(
      {
        status: "ok" as const,
        name: pkg.name,
        version: pkg.version,
        features: {
          demo: config.DEMO_ENABLED,
          batch: config.API_KEYS.length > 0,
          audit: config.AUDIT_ENABLED,
          upstreamRules: config.UPSTREAM_ALLOWLIST.length,
        },
      },
      200,
    );
  },
);

export default health;
