import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { CircuitBreakers } from "../../../lib/async/breaker";
import { parseConfig } from "../../../lib/base/config";
import type { Fetcher } from "../../../lib/base/http";
import { parseAllowList } from "../../../lib/base/policy";
import { IN_PROCESS_RULE, isInProcessUrl } from "../../../lib/batch/in-process";
import { buildPlan } from "../../../lib/batch/plan";
import { type BatchMode, runBatch } from "../../../lib/batch/scheduler";
import { isolateBreakersFor } from "../../../lib/batch/service";
import type { BatchContext } from "../../../lib/batch/steps/context";
import type { HttpSpec, StepInput } from "../../../lib/batch/steps/types";
import { batchContext } from "../batch-context";

/**
 * The http step under a circuit breaker, for real: the closed port 127.0.0.1:9 (allowed, unreachable)
 * and the loopback upstream fixture, which counts the calls that reach it.
 */

const UPSTREAM = `http://127.0.0.1:${env.UPSTREAM_PORT}`;
const DEAD = "http://127.0.0.1:9";
const allowList = parseAllowList(`${UPSTREAM}, ${DEAD}`);

beforeEach(async () => {
  await fetch(`${UPSTREAM}/__reset`);
});

async function hits(path: string): Promise<number> {
  return ((await (await fetch(`${UPSTREAM}/__hits?path=${encodeURIComponent(path)}`)).json()) as { hits: number }).hits;
}

async function calls(key: string): Promise<number> {
  return ((await (await fetch(`${UPSTREAM}/__calls?key=${key}`)).json()) as { at: number[] }).at.length;
}

/** A fetcher that records every request it is asked to send: what a refused call must never reach. */
function countingFetcher(): { sent: string[]; fetcher: Fetcher } {
  const sent: string[] = [];
  const fetcher: Fetcher = (url, init) => {
    sent.push(url);
    return fetch(url, init);
  };
  return { sent, fetcher };
}

function breakers(failureThreshold: number, { cooldownMs = 60_000, now }: { cooldownMs?: number; now?: () => number } = {}) {
  return new CircuitBreakers({ failureThreshold, intervalMs: 60_000, cooldownMs, ...(now ? { now } : {}) });
}

const http = (id: string, url: string, extra: Partial<HttpSpec> = {}): StepInput => ({
  id,
  http: { url, method: "GET", maxRedirects: 5, ...extra },
});

/** Runs steps (one at a time unless told) with the real executors; `batch` lets a test read its budgets afterwards. */
async function run(
  steps: StepInput[],
  overrides: Partial<BatchContext> & { deadlineMs?: number } = {},
  { mode = "allSettled", concurrency = 1 }: { mode?: BatchMode; concurrency?: number } = {},
) {
  const batch = batchContext({ allowList, ...overrides });
  try {
    const plan = buildPlan(steps, { maxSteps: 100, subrequestBudget: 1000, isInProcess: isInProcessUrl });
    const outcome = await runBatch(plan, { mode, concurrency, maxSteps: 100, batch });
    return { outcome, batch, codes: steps.map((step) => outcome.results[step.id]!.error?.code ?? "ok") };
  } finally {
    batch.deadline.dispose();
  }
}

describe("the http step under a circuit breaker", () => {
  it("a dead upstream fails N times with network, then circuit_open without touching the network", async () => {
    const shared = breakers(3);
    const { sent, fetcher } = countingFetcher();
    const steps = Array.from({ length: 5 }, (_, i) => http(`s${i}`, `${DEAD}/item/${i}`));
    const first = await run(steps, { breakers: shared, fetcher });
    expect(first.codes).toEqual(["network", "network", "network", "circuit_open", "circuit_open"]);
    expect(sent).toHaveLength(3);
    expect(first.outcome.results.s3!.error!.message).toMatch(
      /^calls to http:\/\/127\.0\.0\.1:9 are paused after 3 consecutive failures; next trial in ~60 s$/,
    );
    // The next batch finds the circuit open: nothing is sent at all.
    const second = await run(steps, { breakers: shared, fetcher });
    expect(second.codes).toEqual(Array(5).fill("circuit_open"));
    expect(sent).toHaveLength(3);
    // Another origin is not affected.
    const other = await run([http("ok", `${UPSTREAM}/delay?ms=1`)], { breakers: shared, fetcher });
    expect(other.codes).toEqual(["ok"]);
  });

  it("a 5xx upstream stops receiving calls after N (counted at the upstream)", async () => {
    const shared = breakers(3);
    const steps = Array.from({ length: 4 }, (_, i) => http(`s${i}`, `${UPSTREAM}/status/503?i=${i}`));
    expect((await run(steps, { breakers: shared })).codes).toEqual(["http_status", "http_status", "http_status", "circuit_open"]);
    expect((await run(steps, { breakers: shared })).codes).toEqual(Array(4).fill("circuit_open"));
    expect(await hits("/status/503")).toBe(3);
  });

  it("2xx-4xx answers count as successes and keep the circuit closed", async () => {
    const shared = breakers(2);
    const steps = ["503", "404", "503", "200", "503"].map((code, i) => http(`s${i}`, `${UPSTREAM}/status/${code}?i=${i}`));
    const { codes } = await run(steps, { breakers: shared });
    expect(codes).toEqual(["http_status", "http_status", "http_status", "ok", "http_status"]);
    expect(shared.pausedFor(UPSTREAM)).toBe(0);
  });

  it("does not retry (or spend the retry budget) once the circuit opens", async () => {
    const shared = breakers(2);
    const { outcome, batch } = await run([http("r", `${UPSTREAM}/status/503`, { retry: { attempts: 5, baseDelayMs: 1 } })], {
      breakers: shared,
    });
    // Attempt 1 fails, the retry (attempt 2) fails and opens the circuit: no attempt 3 is slept on or paid for.
    expect(outcome.results.r).toMatchObject({ ok: false, status: 503, attempts: 2, error: { code: "http_status" } });
    expect(batch.budgets.retries.limit - batch.budgets.retries.remaining).toBe(1);
    expect(await hits("/status/503")).toBe(2);
  });

  it("times out count as failures; cancelled calls and the batch deadline do not", async () => {
    const shared = breakers(1);
    // Cancelled: race settles on the quick step and aborts the hanging one.
    const raced = await run(
      [http("quick", `${UPSTREAM}/delay?ms=1`), http("hang", `${UPSTREAM}/hang`)],
      { breakers: shared },
      { mode: "race", concurrency: 2 },
    );
    expect(raced.outcome.results.hang!.error?.code).toBe("cancelled");
    // The batch deadline cuts a call whose timeout is longer: that says nothing about the upstream.
    const cut = await run([http("hang", `${UPSTREAM}/hang`)], { breakers: shared, deadlineMs: 150 });
    expect(cut.codes).toEqual(["deadline_exceeded"]);
    expect(shared.pausedFor(UPSTREAM)).toBe(0);
    // Its own timeout does.
    const timedOut = await run([http("hang", `${UPSTREAM}/hang`, { timeoutMs: 100 }), http("next", `${UPSTREAM}/delay?ms=1`)], {
      breakers: shared,
    });
    expect(timedOut.codes).toEqual(["timeout", "circuit_open"]);
  });

  it("half-open: the trial goes through alone (its hedge and other calls are refused) and its success closes the circuit", async () => {
    const clock = { now: 0 };
    const shared = breakers(1, { cooldownMs: 1000, now: () => clock.now });
    expect((await run([http("fail", `${UPSTREAM}/status/500`)], { breakers: shared })).codes).toEqual(["http_status"]);
    clock.now = 1000;
    const { outcome } = await run(
      [
        http("trial", `${UPSTREAM}/timed/trial?ms=400,0`, { hedge: { afterMs: 50 } }),
        { id: "pause", wait: { ms: 100 } },
        { ...http("during", `${UPSTREAM}/delay?ms=1`), dependsOn: ["pause"] },
      ],
      { breakers: shared },
      { concurrency: 3 },
    );
    expect(outcome.results.trial).toMatchObject({ ok: true, hedged: true, body: { call: 1 } });
    expect(await calls("trial")).toBe(1);
    expect(outcome.results.during!.error?.code).toBe("circuit_open");
    expect(shared.pausedFor(UPSTREAM)).toBe(0);
    expect((await run([http("after", `${UPSTREAM}/delay?ms=1`)], { breakers: shared })).codes).toEqual(["ok"]);
  });

  it("in-process /v1/sim/ URLs are exempt", async () => {
    const shared = breakers(1);
    const steps = [0, 1, 2].map((i) => http(`s${i}`, `/v1/sim/status/503?i=${i}`));
    const { codes } = await run(steps, {
      breakers: shared,
      allowList: [...allowList, IN_PROCESS_RULE],
      fetcher: async () => new Response("unavailable", { status: 503 }),
    });
    expect(codes).toEqual(["http_status", "http_status", "http_status"]);
  });
});

describe("the isolate's breakers", () => {
  const config = (vars: Record<string, string>) => parseConfig({ BREAKER_FAILURES: "4", BREAKER_COOLDOWN_MS: "1234", ...vars });

  it("are built from the BREAKER_ vars, kept while they stay the same and rebuilt when they change", () => {
    const first = isolateBreakersFor(config({}))!;
    expect(first.settings).toEqual({ failureThreshold: 4, intervalMs: 10_000, cooldownMs: 1234 });
    expect(isolateBreakersFor(config({}))).toBe(first);
    const changed = isolateBreakersFor(config({ BREAKER_FAILURES: "5" }))!;
    expect(changed).not.toBe(first);
    expect(changed.settings.failureThreshold).toBe(5);
  });

  it("are off with BREAKER_ENABLED=false, and the vars are checked", () => {
    expect(isolateBreakersFor(config({ BREAKER_ENABLED: "false" }))).toBeNull();
    expect(parseConfig({}).BREAKER_ENABLED).toBe(true);
    expect(() => parseConfig({ BREAKER_FAILURES: "0" })).toThrow(/BREAKER_FAILURES/);
    expect(() => parseConfig({ BREAKER_COOLDOWN_MS: "soon" })).toThrow(/BREAKER_COOLDOWN_MS/);
  });
});
