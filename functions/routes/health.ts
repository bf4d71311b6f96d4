import { createRoute, z } from "@hono/zod-openapi";
import pkg from "../../package.json";
import { createRouter } from "../http/router";
import type { ServedCatalog } from "./composites";

/** GET /healthz: liveness, version, the features that are on, and whether the composites file loaded. */

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
    composites: z
      .object({
        ok: z.boolean().openapi({ description: "The composites file loaded and every composite in it is valid" }),
        file: z.string().optional().openapi({ description: "The composites file", example: "functions/composites.jsonc" }),
        served: z.number().int().openapi({ description: "How many composites are served (the demo ones only while DEMO_ENABLED is on)" }),
        broken: z.array(z.string()).openapi({ description: "Composites that answer 503 not_configured (their names)" }),
        error: z.string().optional().openapi({
          description:
            "Where the file stops loading (file:line:col) when no composite is served at all; the reason is in the log and `npm run check`",
          example: "functions/composites.jsonc:12:5",
        }),
      })
      .openapi({ description: "The composites: the gateway serves every other route whatever their state" }),
  })
  .openapi("Health");

/** What /healthz says of the catalog: names and positions only, never a reason (the file's values stay out of a public answer). */
function compositesHealth(catalog: ServedCatalog, demo: boolean) {
  const error = catalog.source?.errors[0]?.at;
  const broken = catalog.broken.map((entry) => entry.name);
  return {
    ok: error === undefined && broken.length === 0,
    ...(catalog.source ? { file: catalog.source.file } : {}),
    served: catalog.composites.filter((composite) => demo || !composite.demo).length,
    broken,
    ...(error === undefined ? {} : { error }),
  };
}

export function createHealthRoutes(catalog: ServedCatalog) {
  const health = createRouter();

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
          composites: compositesHealth(catalog, config.DEMO_ENABLED),
        },
        200,
      );
    },
  );
  return health;
}
