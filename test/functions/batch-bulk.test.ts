import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import {
  eventually,
  postBatch,
  postBatchWithEnv,
  resetUpstream,
  runBatchJson,
  UPSTREAM,
  upstreamCalls,
  upstreamHits,
} from "./batch-helpers";
import { expectProblem } from "./helpers";

/**
 * Bulk calls (a forEach's `batch` option, lib/batch/bulk.ts) against the loopback upstream's /bulk
 * endpoint, which answers the elements of the ids it was sent in reverse order (test/fixtures/upstream.ts):
 * the upstream's hit counter proves how many calls were made.
 */

beforeEach(async () => {
  await resetUpstream();
});

const ids = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const byQuery = { size: 25, param: "id", matchBy: "id" };

describe("a bulk forEach", () => {
  it.each([1, 25, 26, 100])(
    "sends %i items, 25 a call, in exactly ceil(N / 25) upstream calls, each item's element in order",
    async (n) => {
      const { res, json } = await runBatchJson({
        steps: [{ id: "users", forEach: ids(n), http: { url: `${UPSTREAM}/bulk?ms=1` }, batch: byQuery }],
      });
      expect(res.status).toBe(200);
      expect(await upstreamHits("/bulk")).toBe(Math.ceil(n / 25));
      const users = json.results.users!;
      expect(users).toMatchObject({ ok: true, status: 200 });
      expect(users.body).toEqual(ids(n).map((id) => ({ id, name: `item ${id}`, via: "query" })));
      expect(users.items).toHaveLength(n);
      expect(users.items!.every((item) => item.ok && item.status === 200)).toBe(true);
    },
  );

  it("places the items' array at bodyPath in the step's JSON body (the body form)", async () => {
    const { json } = await runBatchJson({
      steps: [
        {
          id: "users",
          forEach: ["a", "b", "c"],
          http: { url: `${UPSTREAM}/bulk?at=filter.ids`, method: "POST", body: { filter: { active: true } } },
          batch: { size: 2, bodyPath: "filter.ids", matchBy: "id" },
        },
      ],
    });
    expect(await upstreamHits("/bulk")).toBe(2);
    expect(json.results.users!.body).toEqual(["a", "b", "c"].map((id) => ({ id, name: `item ${id}`, via: "body" })));
  });

  it("maps elements back by key: duplicates sent once and each given its element, the first of duplicate elements, a missing item not_found", async () => {
    const { res, json } = await runBatchJson({
      steps: [
        {
          id: "users",
          forEach: [3, 1, 7, 3, "1", 2],
          http: { url: `${UPSTREAM}/bulk?missing=7&twice=2&envelope=data`, pick: ["name"] },
          batch: { ...byQuery, resultsPath: "data" },
        },
      ],
    });
    expect(res.status).toBe(200);
    expect(await upstreamHits("/bulk")).toBe(1);
    const users = json.results.users!;
    expect(users.body).toEqual([{ name: "item 3" }, { name: "item 1" }, null, { name: "item 3" }, { name: "item 1" }, { name: "item 2" }]);
    // The forEach record keeps its shape: not all ok is a 207-like result, the missing item named per item.
    expect(users).toMatchObject({ ok: false, status: 207, error: { code: "not_found", message: "1 of 6 items failed" } });
    expect(users.items!.map((item) => item.ok)).toEqual([true, true, false, true, true, true]);
    expect(users.items![2]).toMatchObject({
      ok: false,
      status: 200,
      error: { code: "not_found", message: 'no element of the answer has id = "7" (batch.matchBy)' },
    });
  });

  it("gives every item of a failed call that call's error, and an answer without an array a validation_failed per item", async () => {
    const { res, json } = await runBatchJson({
      steps: [
        { id: "down", forEach: [1, 2], http: { url: `${UPSTREAM}/status/503` }, batch: byQuery },
        { id: "shape", forEach: [1, 2], http: { url: `${UPSTREAM}/echo` }, batch: byQuery },
      ],
    });
    expect(res.status).toBe(200);
    expect(json.results.down!.items).toEqual([
      expect.objectContaining({ ok: false, status: 503, error: expect.objectContaining({ code: "http_status" }) }),
      expect.objectContaining({ ok: false, status: 503, error: expect.objectContaining({ code: "http_status" }) }),
    ]);
    expect(json.results.shape!.items![0]!.error).toMatchObject({
      code: "validation_failed",
      message: expect.stringContaining("not an array"),
    });
  });

  it("bulks a forEach over a reference, counting its calls, not its items, against MAX_STEPS at run time", async () => {
    await env.KV.put("test:bulk-ids", JSON.stringify(ids(150)));
    const { json } = await runBatchJson({
      steps: [
        { id: "list", kv: { key: "test:bulk-ids", type: "json" } },
        { id: "users", forEach: "{{list.body}}", http: { url: `${UPSTREAM}/bulk` }, batch: byQuery },
      ],
    });
    expect(json.results.users).toMatchObject({ ok: true, status: 200 });
    expect(json.results.users!.items).toHaveLength(150);
    expect(await upstreamHits("/bulk")).toBe(6);
  });

  it("a literal forEach of 150 items fits MAX_STEPS (100) only in bulk", async () => {
    const step = { id: "users", forEach: ids(150), http: { url: `${UPSTREAM}/bulk` } };
    expect((await postBatch({ steps: [{ ...step, batch: byQuery }] })).status).toBe(200);
    const problem = await expectProblem(await postBatch({ steps: [step] }), 400, "limit_exceeded");
    expect(problem.detail).toContain("MAX_STEPS");
  });
});

describe("a bulk forEach and the subrequest budget", () => {
  const step = (batch?: object) => ({
    id: "users",
    forEach: ids(100),
    http: { url: `${UPSTREAM}/bulk`, maxRedirects: 0 },
    ...(batch ? { batch } : {}),
  });

  it("counts calls, not items: 100 items in calls of 10 fit a budget of 10", async () => {
    const res = await postBatchWithEnv({ SUBREQUEST_BUDGET: "10" }, { steps: [step({ ...byQuery, size: 10 })] });
    expect(res.status).toBe(200);
    expect(await upstreamHits("/bulk")).toBe(10);
  });

  it.each([
    ["one by one", 100, undefined],
    ["in calls of 9", 12, { ...byQuery, size: 9 }],
  ])("refuses %s (%i subrequests) before anything runs, naming SUBREQUEST_BUDGET", async (_, needed, batch) => {
    const problem = await expectProblem(
      await postBatchWithEnv({ SUBREQUEST_BUDGET: "10" }, { steps: [step(batch)] }),
      400,
      "limit_exceeded",
    );
    expect(problem.detail).toContain(`${needed} subrequests`);
    expect(problem.detail).toContain("SUBREQUEST_BUDGET");
    expect(await upstreamHits("/bulk")).toBe(0);
  });
});

describe("a bulk forEach is stopped like any step", () => {
  it("the batch deadline ends its calls (deadline_exceeded), aborted at the upstream", async () => {
    const { json } = await runBatchJson({
      deadlineMs: 300,
      steps: [{ id: "users", forEach: ids(60), http: { url: `${UPSTREAM}/timed/bulk-deadline?ms=5000` }, batch: byQuery }],
    });
    expect(json.durationMs).toBeLessThan(3000);
    expect(json.results.users!.error!.code).toBe("deadline_exceeded");
    expect((await upstreamCalls("bulk-deadline")).at).toHaveLength(3);
    expect(await eventually(async () => (await upstreamCalls("bulk-deadline")).aborted === 3)).toBe(true);
  });

  it("mode all cancels it when another step fails, and its calls are aborted at the upstream", async () => {
    const { res, json } = await runBatchJson({
      mode: "all",
      steps: [
        { id: "bad", http: { url: `${UPSTREAM}/status/500` } },
        { id: "users", forEach: ids(30), http: { url: `${UPSTREAM}/timed/bulk-cancel?ms=5000` }, batch: byQuery },
      ],
    });
    expect(res.status).toBe(502);
    expect(json.results.users!.error!.code).toBe("cancelled");
    expect(json.durationMs).toBeLessThan(3000);
    expect(await eventually(async () => (await upstreamCalls("bulk-cancel")).aborted === 2)).toBe(true);
  });
});

describe("a bad bulk option is a 400 naming the field", () => {
  const http = { url: `${UPSTREAM}/bulk` };
  const post = { url: `${UPSTREAM}/bulk`, method: "POST" };
  const byBody = { size: 5, bodyPath: "ids", matchBy: "id" };
  it.each([
    ["size 0", { forEach: [1], http, batch: { ...byQuery, size: 0 } }, "steps[0].batch.size", "at least 1"],
    ["size over 1000", { forEach: [1], http, batch: { ...byQuery, size: 1001 } }, "steps[0].batch.size", "at most 1000"],
    ["size over MAX_STEPS (100)", { forEach: [1], http, batch: { ...byQuery, size: 101 } }, "steps[0].batch.size", "(MAX_STEPS)"],
    ["both param and bodyPath", { forEach: [1], http: post, batch: { ...byQuery, bodyPath: "ids" } }, "steps[0].batch", "exactly one of"],
    ["neither param nor bodyPath", { forEach: [1], http, batch: { size: 5, matchBy: "id" } }, "steps[0].batch", "exactly one of"],
    [
      "a matchBy that does not parse",
      { forEach: [1], http, batch: { ...byQuery, matchBy: "user..id" } },
      "steps[0].batch.matchBy",
      "matchBy path",
    ],
    ["a matchBy with [*]", { forEach: [1], http, batch: { ...byQuery, matchBy: "ids[*]" } }, "steps[0].batch.matchBy", "[*]"],
    [
      "a bodyPath with an index",
      { forEach: [1], http: post, batch: { ...byBody, bodyPath: "ids[0]" } },
      "steps[0].batch.bodyPath",
      "no [n]",
    ],
    [
      "a param that is no name",
      { forEach: [1], http, batch: { ...byQuery, param: "a b" } },
      "steps[0].batch.param",
      "query parameter name",
    ],
    ["an unknown field", { forEach: [1], http, batch: { ...byQuery, sizes: 2 } }, "steps[0].batch", "sizes"],
    ["a kv step", { forEach: ["a"], kv: { key: "flags:{{item}}" }, batch: byQuery }, "steps[0].batch", "this is a kv step"],
    ["no forEach", { http, batch: byQuery }, "steps[0].batch", "no forEach"],
    ["a bodyPath on a GET", { forEach: [1], http, batch: byBody }, "steps[0].batch.bodyPath", "a GET request has no body"],
    ["a body that is not an object", { forEach: [1], http: { ...post, body: [1] }, batch: byBody }, "steps[0].http.body", "JSON object"],
    [
      "{{item}} in the URL",
      { forEach: [1], http: { url: `${UPSTREAM}/bulk?x={{item}}` }, batch: byQuery },
      "steps[0].http.url",
      "names one item",
    ],
  ])("%s", async (_, fields, name, reason) => {
    const problem = await expectProblem(await postBatch({ steps: [{ id: "s", ...fields }] }), 400, "validation_failed");
    expect(problem.invalidParams).toContainEqual({ name, reason: expect.stringContaining(reason) });
    expect(await upstreamHits("/bulk")).toBe(0);
  });
});
