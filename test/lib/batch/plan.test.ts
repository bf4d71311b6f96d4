import { describe, expect, it } from "vitest";
import type { FanoutError } from "../../../lib/base/errors";
import { buildPlan, type PlanLimits } from "../../../lib/batch/plan";
import type { StepInput } from "../../../lib/batch/steps/types";
import { INPUT_ROOTS } from "../../../lib/batch/template";

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

/** A step's `when` as the plan sees it: parsed, checked, and its steps made dependencies. */
const wait = (id: string, extra: Partial<StepInput> = {}): StepInput => ({ id, wait: { ms: 1 }, ...extra });

describe("buildPlan with when", () => {
  it("makes the steps a when reads dependencies that need only settle, unless the step needs them anyway", () => {
    const plan = buildPlan(
      [
        wait("user"),
        wait("flags"),
        wait("a", { when: 'user.body.plan == "pro" and flags.status == 200' }),
        { id: "b", when: "exists user.body.id", http: http("/v1/sim/{{user.body.id}}") },
        wait("c", { when: "flags.status == 200", dependsOn: ["flags"] }),
        wait("d"),
      ],
      limits,
    );
    const step = (id: string) => plan.byId.get(id)!;
    expect(step("a").dependsOn).toEqual(["user", "flags"]);
    expect([...step("a").conditionOnly]).toEqual(["user", "flags"]);
    expect(step("b").dependsOn).toEqual(["user"]);
    expect([...step("b").conditionOnly]).toEqual([]);
    expect([...step("c").conditionOnly]).toEqual([]);
    expect(step("a").condition).toMatchObject({ op: "and" });
    expect(step("d").condition).toBeUndefined();
    expect(plan.dependents.get("user")).toEqual(["a", "b"]);
    // A when is not a reference in the spec: the step still runs its spec as written.
    expect(step("a").literal).toBe(true);
  });

  it("refuses a when that does not parse, naming the field and the character", () => {
    const error = planError([wait("user"), wait("a"), wait("b", { when: "user.status => 200" })]);
    expect(error).toMatchObject({ code: "validation_failed", status: 400 });
    expect(error.invalidParams).toEqual([{ name: "steps[2].when", reason: 'at character 13: unexpected "=" (compare with ==)' }]);
    expect(error.detail).toBe('invalid batch: steps[2].when: at character 13: unexpected "=" (compare with ==)');
  });

  it("refuses unknown steps, its own step, paths that skip .status/.headers/.body and forEach's names", () => {
    const error = planError([
      wait("user"),
      wait("a", { when: "ghost.status == 200" }),
      wait("b", { when: "b.status == 200" }),
      wait("c", { when: "user.bodyx.id == 1" }),
      wait("d", { forEach: [1, 2], when: "item.id == 1" }),
    ]);
    expect(error.invalidParams).toEqual([
      { name: "steps[1].when", reason: '"ghost.status" refers to unknown step "ghost"' },
      { name: "steps[2].when", reason: '"b.status" refers to its own step' },
      { name: "steps[3].when", reason: '"user.bodyx.id" must continue with .status, .headers or .body' },
      {
        name: "steps[4].when",
        reason: '"item.id": a when is evaluated once per step, before any forEach item; item is not defined there',
      },
    ]);
  });

  it("refuses params, query and headers in a batch (a composite's request values), unless a step has that id", () => {
    const error = planError([wait("a", { when: 'query.include == "reviews" or params.x == 1' })]);
    expect(error.invalidParams).toEqual([
      { name: "steps[0].when", reason: "\"query.include\": query is a composite's request value; a batch's when reads earlier steps only" },
      { name: "steps[0].when", reason: "\"params.x\": params is a composite's request value; a batch's when reads earlier steps only" },
    ]);
    const plan = buildPlan([wait("query"), wait("a", { when: "query.status == 200" })], limits);
    expect(plan.byId.get("a")!.dependsOn).toEqual(["query"]);
  });

  it("accepts a composite's request values without making them dependencies", () => {
    const plan = buildPlan([wait("a", { when: 'query.include == "reviews" and headers.x-tier != "" and params.id > 0' })], {
      ...limits,
      inputRoots: INPUT_ROOTS,
    });
    expect(plan.byId.get("a")!.dependsOn).toEqual([]);
  });

  it("finds a cycle made through a when", () => {
    const error = planError([wait("a", { when: "b.status == 200" }), wait("b", { dependsOn: ["a"] })]);
    expect(error.detail).toBe("invalid batch: dependency cycle between a, b");
  });
});
