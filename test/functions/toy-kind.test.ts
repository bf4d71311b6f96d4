import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AppFetch } from "../../functions/http/env";
import { createBatchRoutes } from "../../functions/routes/batch";
import { documentedStepSchemas, Step } from "../../functions/routes/batch-schema";
import { parseConfig } from "../../lib/base/config";
import { FanoutError } from "../../lib/base/errors";
import { expectedLatency } from "../../lib/batch/plan";
import { type BatchRequestInput, batchBindings, executeBatch, planBatch } from "../../lib/batch/service";
import { createStepRegistry, STEP_KIND_MODULES, STEPS } from "../../lib/batch/steps/index";
import { echo } from "../fixtures/toy-kind";

/**
 * Adding a step kind is one module and one registry line: a toy "echo" kind (test/fixtures/toy-kind.ts)
 * registered beside the real ones is validated, planned (cost, latency, config check), run, and documented.
 */

const kinds = createStepRegistry([...STEP_KIND_MODULES, echo]);
const schemas = documentedStepSchemas(kinds);
const config = parseConfig({ UPSTREAM_ALLOWLIST: "https://api.example.com", DEMO_ENABLED: "false", BREAKER_ENABLED: "false" });

/** A request as the registry's schema validates it (defaults applied). */
function validated(body: unknown): BatchRequestInput {
  return schemas.BatchRequest.parse(body) as BatchRequestInput;
}

describe("a step kind registered from one module", () => {
  it("is validated by the registry's schema, defaults and one-kind rule included; production's schema does not know it", () => {
    expect(schemas.Step.parse({ id: "a", echo: { say: "hi" } })).toEqual({ id: "a", echo: { say: "hi", times: 1 } });
    const tooMany = schemas.Step.safeParse({ id: "a", echo: { say: "hi", times: 9 } });
    expect(tooMany.success).toBe(false);
    expect(tooMany.error!.issues[0]!.path).toEqual(["echo", "times"]);
    const twoKinds = schemas.Step.safeParse({ id: "a", echo: { say: "hi" }, wait: { ms: 1 } });
    expect(twoKinds.error!.issues.map((issue) => issue.message)).toEqual([
      "a step has exactly one of http, kv, r2, d1, cache, wait, echo (found wait, echo)",
    ]);
    expect(Step.safeParse({ id: "a", echo: { say: "hi" } }).success).toBe(false);
  });

  it("is planned with its own cost, default latency and configuration check", () => {
    const body = validated({
      steps: [
        { id: "a", echo: { say: "hi", times: 3 } },
        { id: "b", echo: { say: "{{a.body.echoed}}!" } },
        { id: "c", echo: { say: "x" }, expectedMs: 40 },
      ],
    });
    const plan = planBatch(body, config, { kinds });
    expect(plan.steps.map((step) => [step.kind, step.cost])).toEqual([
      ["echo", 3],
      ["echo", 1],
      ["echo", 1],
    ]);
    expect(plan.subrequests).toBe(5);
    expect(plan.byId.get("b")!.dependsOn).toEqual(["a"]);
    expect(plan.steps.map((step) => expectedLatency(step))).toEqual([7, 7, 40]);

    const refused = (() => {
      try {
        planBatch(validated({ steps: [{ id: "a", echo: { say: "forbidden" } }] }), config, { kinds });
      } catch (error) {
        return error;
      }
    })();
    expect(refused).toBeInstanceOf(FanoutError);
    expect((refused as FanoutError).invalidParams).toEqual([{ name: "steps[0].echo.say", reason: "not that word" }]);
    expect(() => planBatch(body, { ...config, SUBREQUEST_BUDGET: 4 }, { kinds })).toThrow(/may need 5 subrequests/);
  });

  it("runs through the scheduler with its own executor, references resolved", async () => {
    const body = validated({
      steps: [
        { id: "a", echo: { say: "hi", times: 2 } },
        { id: "b", echo: { say: "{{a.body.echoed}}!" } },
        { id: "w", wait: { ms: 1 }, dependsOn: ["b"] },
      ],
    });
    const plan = planBatch(body, config, { kinds });
    const outcome = await executeBatch(body, plan, {
      bindings: batchBindings(env),
      config,
      serveInProcess: () => new Response(null, { status: 404 }),
    });
    expect(outcome.completed).toBe(true);
    expect(outcome.results.a!.body).toEqual({ echoed: "hi hi" });
    expect(outcome.results.b!.body).toEqual({ echoed: "hi hi!" });
    expect(outcome.results.w!.body).toEqual({ waitedMs: 1 });
  });

  it("appears in the document: a StepEcho variant in Step's oneOf and its spec as EchoStep", () => {
    const routes = createBatchRoutes((() => new Response(null, { status: 404 })) as AppFetch, kinds);
    const doc = routes.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "toy", version: "0" } });
    const components = doc.components!.schemas as Record<string, { oneOf?: Array<{ $ref: string }>; properties?: Record<string, object> }>;
    expect(components.Step!.oneOf!.map(({ $ref }) => $ref)).toEqual(
      ["StepHttp", "StepKv", "StepR2", "StepD1", "StepCache", "StepWait", "StepEcho"].map((name) => `#/components/schemas/${name}`),
    );
    expect(components.StepEcho!.properties!.echo).toEqual({ $ref: "#/components/schemas/EchoStep" });
    expect(components.StepHttp!.properties!.echo).toEqual({ not: {} });
    expect(components.EchoStep!.properties!.say).toMatchObject({ description: "The text to answer", example: "hello {{user.body.name}}" });
  });

  it("a registry refuses two kinds of the same name; production's has the six", () => {
    expect(() => createStepRegistry([...STEP_KIND_MODULES, echo, echo])).toThrow("two step kinds have the same name");
    expect(STEPS.kinds).toEqual(["http", "kv", "r2", "d1", "cache", "wait"]);
  });
});
