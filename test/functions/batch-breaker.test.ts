import { beforeEach, describe, expect, it } from "vitest";
import { type BatchBody, postBatchWithEnv, resetUpstream, UPSTREAM, upstreamHits } from "./batch-helpers";

/**
 * POST /v1/batch with the isolate's circuit breakers switched on by configuration (the test
 * environment keeps them off). Each test uses its own BREAKER_COOLDOWN_MS, so it gets a freshly
 * built set: changed settings rebuild the isolate's instance.
 */

beforeEach(async () => {
  await resetUpstream();
});

async function batch(vars: Record<string, string>, urls: string[]): Promise<string[]> {
  const res = await postBatchWithEnv(
    { BREAKER_ENABLED: "true", BREAKER_FAILURES: "2", ...vars },
    { concurrency: 1, steps: urls.map((url, i) => ({ id: `s${i}`, http: { url } })) },
  );
  expect(res.status).toBe(200);
  const json = (await res.json()) as BatchBody;
  return urls.map((_, i) => json.results[`s${i}`]!.error?.code ?? "ok");
}

describe("circuit breakers through the route", () => {
  it("a 5xx upstream gets BREAKER_FAILURES calls, then the isolate's later batches fail circuit_open without calling it", async () => {
    const vars = { BREAKER_COOLDOWN_MS: "60001" };
    const urls = [0, 1, 2].map((i) => `${UPSTREAM}/status/500?i=${i}`);
    expect(await batch(vars, urls)).toEqual(["http_status", "http_status", "circuit_open"]);
    expect(await batch(vars, urls)).toEqual(["circuit_open", "circuit_open", "circuit_open"]);
    expect(await upstreamHits("/status/500")).toBe(2);
  });

  it("changed settings start from a closed circuit; BREAKER_ENABLED=false never refuses", async () => {
    const urls = [0, 1, 2].map((i) => `${UPSTREAM}/status/502?i=${i}`);
    expect(await batch({ BREAKER_COOLDOWN_MS: "60002" }, urls)).toEqual(["http_status", "http_status", "circuit_open"]);
    expect(await batch({ BREAKER_COOLDOWN_MS: "60003" }, urls)).toEqual(["http_status", "http_status", "circuit_open"]);
    expect(await batch({ BREAKER_ENABLED: "false" }, urls)).toEqual(["http_status", "http_status", "http_status"]);
    expect(await upstreamHits("/status/502")).toBe(7);
  });

  it("relative /v1/sim/ steps are exempt", async () => {
    const urls = [0, 1, 2].map((i) => `/v1/sim/status/503?i=${i}`);
    expect(await batch({ BREAKER_COOLDOWN_MS: "60004", BREAKER_FAILURES: "1" }, urls)).toEqual([
      "http_status",
      "http_status",
      "http_status",
    ]);
  });
});
