import { createRoute, z } from "@hono/zod-openapi";
import type { Config } from "../../lib/base/config";
import { configProblems } from "../../lib/composite/fit";
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
        ok: z.boolean().openapi({
          description:
            "The composites file loaded, every composite in it is valid and every served one fits this deployment's configuration",
        }),
        file: z.string().optional().openapi({ description: "The composites file", example: "functions/composites.jsonc" }),
        served: z.number().int().openapi({ description: "How many composites are served (the demo ones only while DEMO_ENABLED is on)" }),
        broken: z.array(z.string()).openapi({ description: "Composites that answer 503 not_configured (their names)" }),
        misconfigured: z.array(z.string()).openapi({
          description:
            "Served composites this deployment's configuration cannot run (a D1 query, key prefix or upstream it does not have): they answer 503 not_configured; `npm run check` says why",
        }),
        error: z.string().optional().openapi({
          description:
            "Where the file stops loading (file:line:col) when no composite is served at all; the reason is in the log and `npm run check`",
          example: "functions/composites.jsonc:12:5",
        }),
      })
      .openapi({ description: "The composites: the gateway serves every other route whatever their state" }),
  })
  .openapi("Health");

/** The served composites of `catalog` that `config` cannot run, by name; kept per configuration (pure data, one per isolate). */
function misfitsOf(catalog: ServedCatalog): (config: Config) => string[] {
  const byConfig = new WeakMap<Config, string[]>();
  return (config) => {
    let names = byConfig.get(config);
    if (names === undefined) {
      const served = catalog.composites.filter((composite) => config.DEMO_ENABLED || !composite.demo);
      names = served.filter((composite) => configProblems(composite, config).length > 0).map((composite) => composite.name);
      byConfig.set(config, names);
    }
    return names;
  };
}

/** What /healthz says of the catalog: names and positions only, never a reason (the file's values stay out of a public answer). */
function compositesHealth(catalog: ServedCatalog, config: Config, misconfigured: string[]) {
  const error = catalog.source?.errors[0]?.at;
  const broken = catalog.broken.map((entry) => entry.name);
  return {
    ok: error === undefined && broken.length === 0 && misconfigured.length === 0,
    ...(catalog.source ? { file: catalog.source.file } : {}),
    served: catalog.composites.filter((composite) => config.DEMO_ENABLED || !composite.demo).length,
    broken,
    misconfigured,
    ...(error === undefined ? {} : { error }),
  };
}

export function createHealthRoutes(catalog: ServedCatalog) {
  const health = createRouter();
  const misfits = misfitsOf(catalog);

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
          composites: compositesHealth(catalog, config, misfits(config)),
        },
        200,
      );
    },
  );
  return health;
}
