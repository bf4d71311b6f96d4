import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../functions/index";
import { API_KEY, eventually, postBatch, resetUpstream, runBatchJson, UPSTREAM, upstreamCalls, upstreamHits } from "./batch-helpers";
import { BASE } from "./helpers";

beforeEach(async () => {
  await resetUpstream();
});

describe("hedging", () => {
  it("starts a second attempt after afterMs; the faster wins and the slow one is aborted at the upstream", async () => {
    const { json } = await runBatchJson({
      steps: [{ id: "h", http: { url: `${UPSTREAM}/timed/hedge?ms=2000,10`, hedge: { afterMs: 100 } } }],
    });
    expect(json.results.h).toMatchObject({ ok: true, hedged: true, body: { call: 2 } });
    expect(json.results.h!.durationMs).toBeLessThan(1500);
    expect(await eventually(async () => (await upstreamCalls("hedge")).aborted === 1)).toBe(true);
  });

  it("does not hedge a call that answers in time", async () => {
    const { json } = await runBatchJson({ steps: [{ id: "h", http: { url: `${UPSTREAM}/timed/quick?ms=5`, hedge: { afterMs: 500 } } }] });
    expect(json.results.h).toMatchObject({ ok: true, hedged: false });
    expect((await upstreamCalls("quick")).at).toHaveLength(1);
  });
});

describe("retries", () => {
  it("retry a 503 and honour Retry-After", async () => {
    const { json } = await runBatchJson({
      steps: [{ id: "r", http: { url: `${UPSTREAM}/sequence/ra?codes=503,200&retryAfter=1`, retry: { attempts: 3, baseDelayMs: 1 } } }],
    });
    expect(json.results.r).toMatchObject({ ok: true, status: 200, attempts: 2 });
    const { at } = await upstreamCalls("ra");
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(950);
  });

  it("never retry a POST without an idempotency key; retry it with one", async () => {
    const { json } = await runBatchJson({
      steps: [
        {
          id: "plain",
          http: { url: `${UPSTREAM}/sequence/post1?codes=503,200`, method: "POST", body: "x", retry: { attempts: 3, baseDelayMs: 1 } },
        },
        {
          id: "keyed",
          http: {
            url: `${UPSTREAM}/sequence/post2?codes=503,200`,
            method: "POST",
            body: "x",
            idempotencyKey: "order-42",
            retry: { attempts: 3, baseDelayMs: 1 },
          },
        },
      ],
    });
    expect(json.results.plain).toMatchObject({ ok: false, status: 503, attempts: 1, error: { code: "http_status" } });
    expect(json.results.keyed).toMatchObject({ ok: true, status: 200, attempts: 2 });
  });

  it("do not retry statuses that are not transient", async () => {
    const { json } = await runBatchJson({
      steps: [{ id: "r", http: { url: `${UPSTREAM}/sequence/nf?codes=404,200`, retry: { attempts: 3, baseDelayMs: 1 } } }],
    });
    expect(json.results.r).toMatchObject({ ok: false, status: 404, attempts: 1 });
  });

  it("stop a retry storm with the batch's retry budget (20% of calls, at least 3)", async () => {
    const steps = Array.from({ length: 10 }, (_, i) => ({
      id: `s${i}`,
      http: { url: `${UPSTREAM}/status/503?n=${i}`, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } },
    }));
    await runBatchJson({ steps });
    expect(await upstreamHits("/status/503")).toBe(10 + 3);
  });
});

describe("deadlines and timeouts", () => {
  it("a hanging upstream yields `timeout` within the step's timeoutMs", async () => {
    const { json } = await runBatchJson({ steps: [{ id: "slow", http: { url: `${UPSTREAM}/hang`, timeoutMs: 300 } }] });
    expect(json.results.slow).toMatchObject({ ok: false, error: { code: "timeout" } });
    expect(json.results.slow!.durationMs).toBeLessThan(2000);
  });

  it("a timed-out step's result is its own (attempts and message), alone, coalesced or in a forEach; the others run on", async () => {
    const { json } = await runBatchJson({
      steps: [
        { id: "slow", http: { url: `${UPSTREAM}/hang`, timeoutMs: 200 } },
        { id: "twin", http: { url: `${UPSTREAM}/hang`, timeoutMs: 200 } },
        { id: "items", forEach: [1, 2], http: { url: `${UPSTREAM}/hang?i={{item}}`, timeoutMs: 200 } },
        { id: "fine", http: { url: `${UPSTREAM}/delay?ms=400` } },
      ],
    });
    for (const id of ["slow", "twin"]) {
      expect(json.results[id], id).toMatchObject({
        ok: false,
        attempts: 1,
        error: { code: "timeout", message: "timeoutMs of 200 ms exceeded" },
      });
    }
    expect(json.results.items!.items).toEqual([
      expect.objectContaining({ ok: false, attempts: 1, error: expect.objectContaining({ code: "timeout" }) }),
      expect.objectContaining({ ok: false, attempts: 1, error: expect.objectContaining({ code: "timeout" }) }),
    ]);
    expect(json.results.fine).toMatchObject({ ok: true, status: 200 });
  });

  it("the batch deadline bounds every step (deadline_exceeded) and no retry starts that cannot finish", async () => {
    const { json } = await runBatchJson({
      deadlineMs: 400,
      steps: [
        { id: "hang", http: { url: `${UPSTREAM}/hang`, timeoutMs: 10_000 } },
        { id: "retrying", http: { url: `${UPSTREAM}/sequence/late?codes=503,200&retryAfter=5`, retry: { attempts: 3 } } },
        { id: "wait", wait: { ms: 10_000 } },
      ],
    });
    expect(json.durationMs).toBeLessThan(3000);
    expect(json.results.hang!.error!.code).toBe("deadline_exceeded");
    expect(json.results.wait!.error!.code).toBe("deadline_exceeded");
    expect(json.results.retrying).toMatchObject({ ok: false, status: 503, attempts: 1 });
  });
});

describe("modes", () => {
  it("allSettled answers 200 even with failed steps", async () => {
    const { res, json } = await runBatchJson({
      steps: [
        { id: "bad", http: { url: `${UPSTREAM}/status/500` } },
        { id: "good", wait: { ms: 1 } },
      ],
    });
    expect(res.status).toBe(200);
    expect(json.counts).toMatchObject({ ok: 1, failed: 1 });
  });

  it("all fails fast with 502, cancels the rest and aborts their upstream calls", async () => {
    const { res, json } = await runBatchJson({
      mode: "all",
      steps: [
        { id: "bad", http: { url: `${UPSTREAM}/status/500` } },
        { id: "slow", http: { url: `${UPSTREAM}/timed/all-slow?ms=5000` } },
        { id: "later", wait: { ms: 1 }, dependsOn: ["slow"] },
      ],
    });
    expect(res.status).toBe(502);
    expect(json.results.slow!.error!.code).toBe("cancelled");
    expect(json.results.later!.error!.code).toBe("cancelled");
    expect(json.durationMs).toBeLessThan(3000);
    expect(await eventually(async () => (await upstreamCalls("all-slow")).aborted === 1)).toBe(true);
  });

  it("any answers at the first success and cancels the rest; 502 when nothing succeeds", async () => {
    const { res, json } = await runBatchJson({
      mode: "any",
      steps: [
        { id: "fail", http: { url: `${UPSTREAM}/status/500` } },
        { id: "win", http: { url: `${UPSTREAM}/timed/any-win?ms=50` } },
        { id: "slow", http: { url: `${UPSTREAM}/timed/any-slow?ms=5000` } },
      ],
    });
    expect(res.status).toBe(200);
    expect(json.results.win!.ok).toBe(true);
    expect(json.results.slow!.error!.code).toBe("cancelled");
    expect(await eventually(async () => (await upstreamCalls("any-slow")).aborted === 1)).toBe(true);
    const none = await runBatchJson({
      mode: "any",
      steps: [
        { id: "a", http: { url: `${UPSTREAM}/status/500` } },
        { id: "b", http: { url: `${UPSTREAM}/status/502` } },
      ],
    });
    expect(none.res.status).toBe(502);
  });

  it("race answers with the first settled step and cancels the rest", async () => {
    const { res, json } = await runBatchJson({
      mode: "race",
      steps: [
        { id: "fast", wait: { ms: 20 } },
        { id: "slow", http: { url: `${UPSTREAM}/timed/race-slow?ms=5000` } },
      ],
    });
    expect(res.status).toBe(200);
    expect(json.results.fast!.ok).toBe(true);
    expect(json.results.slow!.error!.code).toBe("cancelled");
    expect(await eventually(async () => (await upstreamCalls("race-slow")).aborted === 1)).toBe(true);
  });
});

describe("concurrency and the critical path", () => {
  it("20 independent waits of 200 ms finish in well under 20 x 200 ms", async () => {
    const steps = Array.from({ length: 20 }, (_, i) => ({ id: `w${i}`, wait: { ms: 200 } }));
    const { json } = await runBatchJson({ steps, concurrency: 20 });
    expect(json.counts.ok).toBe(20);
    expect(json.durationMs).toBeLessThan(2000);
  });

  it("a diamond A -> {B, C} -> D takes about three step latencies, not four", async () => {
    // 400 ms steps: three latencies are 1200 ms, four would be 1600 ms; the bound sits between them.
    const step = (id: string, dependsOn?: string[]) => ({
      id,
      http: { url: `/v1/sim/delay/400?s=${id}` },
      ...(dependsOn ? { dependsOn } : {}),
    });
    const { json } = await runBatchJson({ steps: [step("a"), step("b", ["a"]), step("c", ["a"]), step("d", ["b", "c"])] });
    expect(json.counts.ok).toBe(4);
    expect(json.durationMs).toBeGreaterThanOrEqual(1190);
    expect(json.durationMs).toBeLessThan(1500);
    expect(Math.abs(json.results.b!.startMs - json.results.c!.startMs)).toBeLessThan(50);
  });
});

describe("client disconnect", () => {
  // Deployed, a client disconnect aborts request.signal (compat flag enable_request_signal), and functions/routes/batch.ts hands
  // that signal to the batch. A caller abandoning exports.default.fetch() tears the whole request down instead, which
  // would stop the upstream call even without that wiring; so the request is given its own signal and the worker is
  // called directly: only the wiring can stop the steps, and these tests fail without it.
  async function disconnectMidBatch(key: string, accept?: string) {
    const client = new AbortController();
    // distinct URLs: identical GETs would share one upstream call
    const steps = ["a", "b"].map((id) => ({ id, http: { url: `${UPSTREAM}/timed/${key}?ms=5000&step=${id}` } }));
    const pending = worker.fetch(
      new Request(`${BASE}/v1/batch`, {
        method: "POST",
        headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json", ...(accept ? { accept } : {}) },
        body: JSON.stringify({ steps }),
        signal: client.signal,
      }),
      env,
      createExecutionContext(),
    ) as Promise<Response>;
    expect(await eventually(async () => (await upstreamCalls(key)).at.length === 2)).toBe(true);
    client.abort();
    const text = await pending.then(async (res) => new TextDecoder().decode(await res.arrayBuffer())).catch(() => "");
    // The upstream answers after 5 s and counts a connection closed before that as aborted.
    return { text, aborted: await eventually(async () => (await upstreamCalls(key)).aborted === 2) };
  }

  it("JSON: request.signal aborting cancels every step and aborts its upstream call", async () => {
    const { text, aborted } = await disconnectMidBatch("disconnect-json");
    expect(aborted).toBe(true);
    expect(JSON.parse(text)).toMatchObject({
      results: { a: { ok: false, error: { code: "cancelled" } }, b: { ok: false, error: { code: "cancelled" } } },
    });
  });

  it("NDJSON: the same once the stream has started", async () => {
    const { text, aborted } = await disconnectMidBatch("disconnect-ndjson", "application/x-ndjson");
    expect(aborted).toBe(true);
    expect(
      text
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line))
        .at(-1),
    ).toMatchObject({ type: "summary", counts: { cancelled: 2 } });
  });
});

describe("a stop reaches a step that is waiting to retry", () => {
  // The retrying step is asleep in a 5 s Retry-After wait when the mode decides; the answer must not wait for it.
  const retrying = { id: "r", http: { url: "/v1/sim/status/503?retryAfter=5", retry: { attempts: 3, maxDelayMs: 10_000 } } };

  it("race: answers when the 200 ms wait settles, and the retrying step is cancelled", async () => {
    const started = Date.now();
    const { res, json } = await runBatchJson({ mode: "race", steps: [{ id: "w", wait: { ms: 200 } }, retrying] });
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(json.results.w!.ok).toBe(true);
    expect(json.results.r).toMatchObject({ ok: false, error: { code: "cancelled" } });
  });

  it("all: a failing step stops the batch while another waits to retry", async () => {
    const started = Date.now();
    const { res, json } = await runBatchJson({
      mode: "all",
      steps: [{ id: "w", wait: { ms: 200 } }, { id: "bad", dependsOn: ["w"], http: { url: "/v1/sim/status/500" } }, retrying],
    });
    expect(res.status).toBe(502);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(json.results.r).toMatchObject({ ok: false, error: { code: "cancelled" } });
  });

  it("any: the first success stops the batch while another waits to retry", async () => {
    const started = Date.now();
    const { res, json } = await runBatchJson({ mode: "any", steps: [{ id: "w", wait: { ms: 200 } }, retrying] });
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(json.results.r).toMatchObject({ ok: false, error: { code: "cancelled" } });
  });

  it("NDJSON: the summary line arrives as soon as the mode decides", async () => {
    const started = Date.now();
    const res = await postBatch({ mode: "race", steps: [{ id: "w", wait: { ms: 200 } }, retrying] }, { accept: "application/x-ndjson" });
    const text = new TextDecoder().decode(await res.arrayBuffer());
    expect(Date.now() - started).toBeLessThan(1000);
    const lines = text
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { type: string; id?: string; error?: { code: string } });
    expect(lines.at(-1)).toMatchObject({ type: "summary", counts: { ok: 1, cancelled: 1 } });
    expect(lines.find((line) => line.id === "r")).toMatchObject({ error: { code: "cancelled" } });
  });
});
