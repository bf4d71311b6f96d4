import { describe, expect, it } from "vitest";
import type { FanoutError } from "../../../lib/base/errors";
import { buildPlan, type PlanLimits } from "../../../lib/batch/plan";
import type { StepInput } from "../../../lib/batch/steps/types";

const limits: PlanLimits = { maxSteps: 100, subrequestBudget: 1000, isInProcess: (url) => url.startsWith("/") };
const http = (url: string, extra: Partial<NonNullable<StepInput["http"]>> = {}) => ({
  url,
  method: "GET" as const,
  maxRedirects: 5,
  ...extra,
});

function planError(steps: StepInput[], planLimits = limits): FanoutError {
  try {
    buildPlan(steps, planLimits);
  } catch (error) {
    return error as FanoutError;
  }
  throw new Error("expected the plan to be refused");
}

describe("buildPlan", () => {
  it("marks a step with no reference in its spec or forEach as literal (it runs as written, nothing rendered)", () => {
    const plan = buildPlan(
      [
        { id: "plain", http: http("https://api.example.com/u/1") },
        { id: "after", http: http("https://api.example.com/u/2"), dependsOn: ["plain"] },
        { id: "ref", http: http("https://api.example.com/u/{{plain.body.id}}") },
        { id: "items", forEach: [1, 2], http: http("https://api.example.com/i/{{item}}") },
        { id: "each", forEach: "{{plain.body}}", wait: { ms: 1 } },
      ],
      limits,
    );
    expect(Object.fromEntries(plan.steps.map((step) => [step.id, step.literal]))).toEqual({
      plain: true,
      after: true,
      ref: false,
      items: false,
      each: false,
    });
  });

  it("derives dependencies from references and dependsOn", () => {
    const plan = buildPlan(
      [
        { id: "user", http: http("https://api.example.com/u/1") },
        { id: "posts", http: http("https://api.example.com/u/{{user.body.id}}/posts") },
        { id: "pause", wait: { ms: 5 }, dependsOn: ["user"] },
      ],
      limits,
    );
    expect(plan.byId.get("posts")!.dependsOn).toEqual(["user"]);
    expect(plan.byId.get("pause")!.dependsOn).toEqual(["user"]);
    expect(plan.dependents.get("user")).toEqual(["posts", "pause"]);
  });

  it("names unknown ids, bad references and duplicate ids with their JSON paths", () => {
    const error = planError([
      { id: "a", http: http("https://x.example/{{nope.body.id}}") },
      { id: "a", wait: { ms: 1 }, dependsOn: ["ghost"] },
      { id: "c", http: http("https://x.example/{{a.bodyx}}") },
      { id: "d", http: http("https://x.example/{{item}}") },
    ]);
    expect(error.code).toBe("validation_failed");
    expect(error.invalidParams).toEqual([
      { name: "steps[1].id", reason: 'duplicate id "a" (first at steps[0])' },
      { name: "steps[0].http.url", reason: '{{nope.body.id}} refers to unknown step "nope"' },
      { name: "steps[1].dependsOn[0]", reason: 'unknown step "ghost"' },
      { name: "steps[2].http.url", reason: "{{a.bodyx}} must continue with .status, .headers or .body" },
      { name: "steps[3].http.url", reason: "{{item}} is only defined inside a forEach step" },
    ]);
  });

  it("reports a cycle with its members", () => {
    const error = planError([
      { id: "start", wait: { ms: 1 } },
      { id: "a", wait: { ms: 1 }, dependsOn: ["c", "start"] },
      { id: "b", wait: { ms: 1 }, dependsOn: ["a"] },
      { id: "c", wait: { ms: 1 }, dependsOn: ["b"] },
    ]);
    expect(error.status).toBe(400);
    expect(error.detail).toBe("invalid batch: dependency cycle between a, c, b");
    expect(error.invalidParams[0]!.reason).toBe("dependency cycle: a -> c -> b -> a");
  });

  it("refuses a self-reference", () => {
    expect(planError([{ id: "a", http: http("https://x.example/{{a.body.id}}") }]).invalidParams[0]!.reason).toContain("its own step");
  });

  it("counts worst-case subrequests (attempts x hedges x redirect hops) against the budget", () => {
    const steps: StepInput[] = Array.from({ length: 10 }, (_, i) => ({
      id: `s${i}`,
      http: http("https://x.example/", { retry: { attempts: 3 }, hedge: { afterMs: 10 } }),
    }));
    expect(buildPlan(steps, limits).subrequests).toBe(10 * 3 * 2 * 6);
    const error = planError(steps, { ...limits, subrequestBudget: 300 });
    expect(error).toMatchObject({ code: "limit_exceeded", status: 400 });
    expect(error.detail).toContain("SUBREQUEST_BUDGET");
  });

  it("counts in-process sim URLs and waits as free", () => {
    expect(
      buildPlan(
        [
          { id: "a", http: http("/v1/sim/delay/1") },
          { id: "b", wait: { ms: 1 } },
          { id: "c", kv: { key: "k", type: "text" } },
        ],
        limits,
      ).subrequests,
    ).toBe(1);
  });

  it("refuses more steps than MAX_STEPS", () => {
    const steps = Array.from({ length: 4 }, (_, i) => ({ id: `w${i}`, wait: { ms: 1 } }));
    expect(planError(steps, { ...limits, maxSteps: 3 })).toMatchObject({
      code: "limit_exceeded",
      detail: "4 steps exceed the limit of 3 (MAX_STEPS)",
    });
  });
});
