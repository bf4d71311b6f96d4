import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sleep } from "../../../lib/async/timers";
import type { Fetcher } from "../../../lib/base/http";
import { buildPlan } from "../../../lib/batch/plan";
import { runBatch } from "../../../lib/batch/scheduler";
import type { StepInput } from "../../../lib/batch/steps/types";
import { batchContext } from "../batch-context";

/**
 * A slot of the batch's pool stands for one of the edge's six connections waiting for response
 * headers: an http step frees its slot when the headers arrive and reads its body outside it, and a
 * retry queues for a slot again. Fake timers; a fake fetcher sends headers after 10 ms and the body
 * 200 ms later, and records how many calls wait for headers at once.
 */

const origin = `http://127.0.0.1:${env.UPSTREAM_PORT}`;
const HEADERS_MS = 10;
const BODY_MS = 200;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function slowBodies(statusOf: (path: string, call: number) => number = () => 200) {
  const started = Date.now();
  const calls: Array<{ path: string; at: number }> = [];
  let waitingForHeaders = 0;
  let mostWaiting = 0;
  const fetcher: Fetcher = async (url) => {
    const path = new URL(url).pathname;
    calls.push({ path, at: Date.now() - started });
    waitingForHeaders++;
    mostWaiting = Math.max(mostWaiting, waitingForHeaders);
    await sleep(HEADERS_MS);
    waitingForHeaders--;
    const status = statusOf(path, calls.filter((call) => call.path === path).length);
    // An error's body comes at once; a 200's takes BODY_MS.
    const bodyMs = status >= 500 ? 0 : BODY_MS;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        setTimeout(() => {
          controller.enqueue(new TextEncoder().encode('{"ok":true}'));
          controller.close();
        }, bodyMs);
      },
    });
    return new Response(body, { status, headers: { "content-type": "application/json" } });
  };
  return { fetcher, calls, mostWaiting: () => mostWaiting };
}

async function run(steps: StepInput[], concurrency: number, fetcher: Fetcher) {
  const plan = buildPlan(steps, { maxSteps: 100, subrequestBudget: 1000, isInProcess: () => false });
  const promise = runBatch(plan, { mode: "allSettled", concurrency, maxSteps: 100, batch: batchContext({ fetcher }) });
  await vi.runAllTimersAsync();
  return promise;
}

const step = (id: string, extra: Record<string, unknown> = {}): StepInput => ({
  id,
  http: { url: `${origin}/${id}`, method: "GET", maxRedirects: 0, ...extra },
});

describe("a slot frees when the response headers arrive", () => {
  it("30 steps under six slots: a new wave every 10 ms (headers), the bodies read side by side, 250 ms in all", async () => {
    const upstream = slowBodies();
    const outcome = await run(
      Array.from({ length: 30 }, (_, i) => step(`s${i}`)),
      6,
      upstream.fetcher,
    );
    expect(outcome.counts.ok).toBe(30);
    expect(upstream.mostWaiting()).toBe(6);
    expect(upstream.calls.map((call) => call.at)).toEqual(Array.from({ length: 30 }, (_, i) => Math.floor(i / 6) * HEADERS_MS));
    // Holding a slot through the body would take five waves of 210 ms: 1050 ms.
    expect(outcome.durationMs).toBe(4 * HEADERS_MS + HEADERS_MS + BODY_MS);
  });

  it("a retry is another call waiting for headers: it queues for a slot behind the step that took the freed one", async () => {
    const upstream = slowBodies((path, call) => (path === "/flaky" && call === 1 ? 503 : 200));
    const outcome = await run(
      [step("flaky", { retry: { attempts: 2, baseDelayMs: 0, maxDelayMs: 0 } }), step("other")],
      1,
      upstream.fetcher,
    );
    expect(outcome.results.flaky).toMatchObject({ ok: true, attempts: 2 });
    const [first, other, second] = upstream.calls;
    expect([first?.path, other?.path, second?.path]).toEqual(["/flaky", "/other", "/flaky"]);
    // "other" got the slot when flaky's first headers arrived (10 ms); flaky's retry, due at once (its
    // 503's body came at once, no backoff), waited until "other" had its headers (20 ms).
    expect(other?.at).toBe(HEADERS_MS);
    expect(second?.at).toBe(2 * HEADERS_MS);
    expect(upstream.mostWaiting()).toBe(1);
  });
});
