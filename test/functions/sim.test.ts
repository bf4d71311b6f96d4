import { afterEach, describe, expect, it, vi } from "vitest";
import { flakyRoll, MAX_SIM_ITEMS_PER_CALL } from "../../functions/demo/sim";
import { runBatchJson } from "./batch-helpers";
import { call, expectProblem } from "./helpers";

afterEach(() => {
  vi.useRealTimers();
});

describe("GET /v1/sim/delay/:ms", () => {
  it("answers after the delay with the query echoed", async () => {
    const started = Date.now();
    const res = await call("/v1/sim/delay/50?tag=a");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ delayedMs: 50, args: { tag: "a" } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it.each([
    ["abc", "ms must be a number"],
    ["999999", "ms must be <= 30000"],
    ["-1", "ms must be >= 0"],
    ["1.5", "ms must be an integer"],
  ])("refuses %s with a 400 naming the parameter and bound", async (value, reason) => {
    const body = await expectProblem(await call(`/v1/sim/delay/${value}`), 400, "validation_failed");
    expect(body.invalidParams).toEqual([{ name: "ms", reason }]);
    expect(body.detail).toContain(reason);
  });
});

describe("GET /v1/sim/status/:code", () => {
  it("answers with the status and Retry-After when asked", async () => {
    const res = await call("/v1/sim/status/503?retryAfter=3");
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("3");
    expect(await res.json()).toEqual({ status: 503 });
  });

  it("sends no body for 204", async () => {
    const res = await call("/v1/sim/status/204");
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
  });

  it("refuses a code out of range and a bad Retry-After", async () => {
    const body = await expectProblem(await call("/v1/sim/status/99"), 400, "validation_failed");
    expect(body.invalidParams?.[0]?.name).toBe("code");
    const retry = await expectProblem(await call("/v1/sim/status/503?retryAfter=soon"), 400, "validation_failed");
    expect(retry.invalidParams?.[0]?.name).toBe("retryAfter");
  });
});

describe("GET /v1/sim/bytes/:n", () => {
  it("returns exactly n bytes", async () => {
    const res = await call("/v1/sim/bytes/1000");
    expect(res.headers.get("content-length")).toBe("1000");
    const body = new Uint8Array(await res.arrayBuffer());
    expect(body.byteLength).toBe(1000);
    expect(String.fromCharCode(body[0]!, body[1]!, body[26]!)).toBe("aba");
  });

  it("is bounded", async () => {
    const body = await expectProblem(await call(`/v1/sim/bytes/${10 * 1024 * 1024 + 1}`), 400, "validation_failed");
    expect(body.invalidParams?.[0]).toEqual({ name: "n", reason: "n must be <= 10485760" });
  });
});

describe("GET /v1/sim/drip", () => {
  it("streams the bytes over the duration, first chunk before the last", async () => {
    const res = await call("/v1/sim/drip?bytes=10&durationMs=300&chunks=5");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-encoding")).toBe("identity");
    const reader = res.body!.getReader();
    const arrivals: Array<{ at: number; size: number }> = [];
    const started = Date.now();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arrivals.push({ at: Date.now() - started, size: value.byteLength });
    }
    expect(arrivals.reduce((sum, chunk) => sum + chunk.size, 0)).toBe(10);
    expect(arrivals.length).toBeGreaterThan(1);
    expect(arrivals.at(-1)!.at - arrivals[0]!.at).toBeGreaterThanOrEqual(200);
  });

  it("validates its bounds", async () => {
    const body = await expectProblem(await call("/v1/sim/drip?bytes=0"), 400, "validation_failed");
    expect(body.invalidParams?.[0]?.name).toBe("bytes");
  });
});

describe("GET /v1/sim/flaky", () => {
  it("fails or succeeds deterministically for a seed and attempt", async () => {
    const seed = "demo";
    for (const attempt of [1, 2, 3, 4]) {
      const expected = flakyRoll(seed, attempt) < 0.5 ? 503 : 200;
      const first = await call(`/v1/sim/flaky?failRate=0.5&seed=${seed}`, { headers: { "x-fanout-attempt": String(attempt) } });
      const again = await call(`/v1/sim/flaky?failRate=0.5&seed=${seed}`, { headers: { "x-fanout-attempt": String(attempt) } });
      expect(first.status).toBe(expected);
      expect(again.status).toBe(expected);
    }
  });

  it("always fails at failRate=1 and never at failRate=0", async () => {
    expect((await call("/v1/sim/flaky?failRate=1&status=429&retryAfter=1")).status).toBe(429);
    expect((await call("/v1/sim/flaky?failRate=0")).status).toBe(200);
  });

  it("spreads rolls so a rate means roughly that share of failures", () => {
    const rolls = Array.from({ length: 1000 }, (_, i) => flakyRoll("spread", i + 1));
    const failures = rolls.filter((roll) => roll < 0.3).length;
    expect(failures).toBeGreaterThan(200);
    expect(failures).toBeLessThan(400);
  });
});

describe("GET /v1/sim/items", () => {
  it("answers the items that exist, in ascending id order, each once; an unknown id is simply absent", async () => {
    const res = await call("/v1/sim/items?id=13&id=2&id=2000&id=3&id=2");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([
      { id: 2, name: "Item 2" },
      { id: 3, name: "Item 3" },
      { id: 13, name: "Item 13" },
    ]);
    expect(await (await call("/v1/sim/items?id=7")).json()).toEqual([{ id: 7, name: "Item 7" }]);
    expect(await (await call("/v1/sim/items?id=1001")).json()).toEqual([]);
  });

  it(`takes ${MAX_SIM_ITEMS_PER_CALL} ids and refuses one more with a 400 naming id and the limit`, async () => {
    const ids = (count: number) => Array.from({ length: count }, (_, i) => `id=${i + 1}`).join("&");
    const most = await call(`/v1/sim/items?${ids(MAX_SIM_ITEMS_PER_CALL)}`);
    expect(((await most.json()) as unknown[]).length).toBe(MAX_SIM_ITEMS_PER_CALL);
    const body = await expectProblem(await call(`/v1/sim/items?${ids(MAX_SIM_ITEMS_PER_CALL + 1)}`), 400, "validation_failed");
    expect(body.invalidParams).toEqual([{ name: "id", reason: `at most ${MAX_SIM_ITEMS_PER_CALL} ids per call` }]);
  });

  it.each([
    ["", "id", "name at least one id: ?id=2&id=3"],
    ["?id=abc", "id[0]", "id must be a number"],
    ["?id=2&id=0", "id[1]", "id must be >= 1"],
    ["?id=1.5", "id[0]", "id must be an integer"],
  ])("refuses %j with a 400 naming %s", async (query, name, reason) => {
    const body = await expectProblem(await call(`/v1/sim/items${query}`), 400, "validation_failed");
    expect(body.invalidParams).toEqual([{ name, reason }]);
  });

  it("is a bulk upstream: 4 items (3 distinct ids) in one call of size 3, an id it does not know is that item's not_found", async () => {
    const { json } = await runBatchJson({
      steps: [{ id: "items", forEach: [5, 4000, 1, 5], batch: { size: 3, param: "id", matchBy: "id" }, http: { url: "/v1/sim/items" } }],
    });
    const items = json.results.items!;
    expect(items.body).toEqual([{ id: 5, name: "Item 5" }, null, { id: 1, name: "Item 1" }, { id: 5, name: "Item 5" }]);
    expect(items.items?.map((item) => item.error?.code ?? "ok")).toEqual(["ok", "not_found", "ok", "ok"]);
  });
});
