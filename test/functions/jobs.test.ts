import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../functions/index";
import { API_KEY, resetUpstream, UPSTREAM } from "./batch-helpers";
import { BASE, expectProblem } from "./helpers";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const steps = [
  { id: "a", wait: { ms: 5 } },
  { id: "b", http: { url: "/v1/sim/delay/5" } },
];

interface Delivery {
  headers: Record<string, string>;
  body: string;
}

/**
 * An environment whose queues record what is sent, so tests can drive the consumers with it. Audit is on (the tests'
 * bindings switch it off: vitest.config.ts).
 */
function harness(vars: Record<string, string> = {}) {
  const sent: Array<{ body: unknown; options?: QueueSendOptions }> = [];
  const deadLetters: unknown[] = [];
  const audits: unknown[] = [];
  const testEnv = {
    ...env,
    AUDIT_ENABLED: "true",
    ...vars,
    JOBS: { send: async (body: unknown, options?: QueueSendOptions) => void sent.push({ body, options }), sendBatch: async () => {} },
    JOBS_DLQ: { send: async (body: unknown) => void deadLetters.push(body), sendBatch: async () => {} },
    AUDIT: { send: async (body: unknown) => void audits.push(body), sendBatch: async () => {} },
  } as unknown as Env;
  return {
    env: testEnv,
    sent,
    deadLetters,
    audits,
    /** Runs the audit consumer on the audit records sent so far (and forgets them), as one queue batch. */
    async consumeAudit() {
      const messages = audits.splice(0).map((body, index) => ({ id: `a-${index}`, timestamp: new Date(), attempts: 1, body }));
      const batch = createMessageBatch("fanout-audit", messages);
      const ctx = createExecutionContext();
      await worker.queue(batch, testEnv, ctx);
      return getQueueResult(batch, ctx);
    },
    async request(path: string, init: RequestInit & { key?: string } = {}) {
      const ctx = createExecutionContext();
      const { key = API_KEY, ...rest } = init;
      const res = await worker.fetch(
        new Request(BASE + path, {
          ...rest,
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...(rest.headers as Record<string, string>) },
        }),
        testEnv,
        ctx,
      );
      return { res, ctx };
    },
    submit(body: unknown, headers: Record<string, string> = {}) {
      return this.request("/v1/batch", { method: "POST", body: JSON.stringify(body), headers });
    },
    async job(id: string, key = API_KEY) {
      const { res } = await this.request(`/v1/jobs/${id}`, { key });
      // biome-ignore lint/suspicious/noExplicitAny: tests read whichever job fields they check.
      return { status: res.status, job: (await res.json()) as Record<string, any> };
    },
    /** Runs the queue consumer on the messages sent so far (and forgets them). */
    async consume(attempts = 1) {
      const messages = sent.splice(0).map(({ body }, index) => ({ id: `m${attempts}-${index}`, timestamp: new Date(), attempts, body }));
      const batch = createMessageBatch("fanout-jobs", messages);
      const ctx = createExecutionContext();
      await worker.queue(batch, testEnv, ctx);
      return getQueueResult(batch, ctx);
    },
  };
}

async function deliveries(key: string): Promise<Delivery[]> {
  return (await (await fetch(`${UPSTREAM}/__webhooks?key=${key}`)).json()) as Delivery[];
}

beforeEach(async () => {
  await resetUpstream();
});

describe("async batches", () => {
  it("answer 202 at once; the job reaches succeeded and its signed webhook arrives once", async () => {
    const h = harness();
    const { res, ctx } = await h.submit({ steps, callback: { url: `${UPSTREAM}/webhook/once` } });
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as { id: string; state: string; statusUrl: string };
    expect(accepted.state).toBe("queued");
    expect(res.headers.get("location")).toBe(accepted.statusUrl);
    expect(accepted.statusUrl).toBe(`${BASE}/v1/jobs/${accepted.id}`);

    await waitOnExecutionContext(ctx);
    const { job } = await h.job(accepted.id);
    expect(job).toMatchObject({
      state: "succeeded",
      runner: "waitUntil",
      result: { completed: true, counts: { ok: 2 } },
      callback: { state: "delivered" },
    });
    expect(job.callback.attempts).toHaveLength(1);
    expect(Date.parse(job.finishedAt)).toBeGreaterThanOrEqual(Date.parse(job.startedAt));

    const received = await deliveries("once");
    expect(received).toHaveLength(1);
    const { headers, body } = received[0]!;
    const verified = new Webhook(SECRET).verify(body, headers) as { type: string; data: { jobId: string; state: string; result: unknown } };
    expect(verified).toMatchObject({ type: "batch.completed", data: { jobId: accepted.id, state: "succeeded" } });
    expect(headers["webhook-id"]).toBe(`msg_${accepted.id}`);

    expect(() => new Webhook(SECRET).verify(body.replace("succeeded", "failed"), headers)).toThrow();
    const stale = String(Number(headers["webhook-timestamp"]) - 3600);
    expect(() => new Webhook(SECRET).verify(body, { ...headers, "webhook-timestamp": stale })).toThrow();
  });

  it("retry a receiver that answers 503 twice: three deliveries with one webhook-id, three recorded attempts", async () => {
    const h = harness();
    const { res, ctx } = await h.submit({ steps, callback: { url: `${UPSTREAM}/webhook/flaky?codes=503,503,200` } });
    const { id } = (await res.json()) as { id: string };
    await waitOnExecutionContext(ctx);
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0]!.body).toEqual({ kind: "deliver", jobId: id });
    expect(h.sent[0]!.options!.delaySeconds).toBeGreaterThanOrEqual(4);
    expect(h.sent[0]!.options!.delaySeconds).toBeLessThanOrEqual(6);

    // The queued delivery fails again: the consumer retries the message with the schedule's next delay.
    h.sent.push({ body: { kind: "deliver", jobId: id } });
    const second = await h.consume(1);
    expect(second.retryMessages.map((message: { msgId: string }) => message.msgId)).toEqual(["m1-0"]);
    h.sent.push({ body: { kind: "deliver", jobId: id } });
    const third = await h.consume(2);
    expect(third.explicitAcks).toEqual(["m2-0"]);

    const { job } = await h.job(id);
    expect(job.callback.state).toBe("delivered");
    expect(job.callback.attempts.map((attempt: { outcome: string; status: number }) => [attempt.outcome, attempt.status])).toEqual([
      ["retry", 503],
      ["retry", 503],
      ["delivered", 200],
    ]);
    expect(job.callback.attempts[1].nextDelaySeconds).toBeGreaterThanOrEqual(240);
    const received = await deliveries("flaky");
    expect(received).toHaveLength(3);
    expect(new Set(received.map((delivery) => delivery.headers["webhook-id"]))).toEqual(new Set([`msg_${id}`]));
  });

  it("send a delivery that fails every attempt to the dead-letter queue and record callback: failed", async () => {
    const h = harness({ CALLBACK_MAX_ATTEMPTS: "2" });
    const { res, ctx } = await h.submit({ steps, callback: { url: `${UPSTREAM}/webhook/down?codes=500` } });
    const { id } = (await res.json()) as { id: string };
    await waitOnExecutionContext(ctx);
    const result = await h.consume(1);
    expect(result.explicitAcks).toEqual(["m1-0"]);
    expect(h.deadLetters).toEqual([{ kind: "deliver", jobId: id }]);
    const { job } = await h.job(id);
    expect(job.callback.state).toBe("failed");
    expect(job.callback.attempts).toHaveLength(2);
    expect(await deliveries("down")).toHaveLength(2);
  });

  it("stop at once on 410 Gone", async () => {
    const h = harness();
    const { res, ctx } = await h.submit({ steps, callback: { url: `${UPSTREAM}/webhook/gone?codes=410` } });
    const { id } = (await res.json()) as { id: string };
    await waitOnExecutionContext(ctx);
    expect(h.sent).toHaveLength(0);
    const { job } = await h.job(id);
    expect(job.callback).toMatchObject({ state: "failed", attempts: [{ outcome: "failed", status: 410 }] });
  });

  it("run a job whose deadline exceeds the waitUntil limit in the queue consumer, not in waitUntil", async () => {
    const h = harness();
    const { res, ctx } = await h.submit({ steps, deadlineMs: 25_000, callback: { url: `${UPSTREAM}/webhook/long` } });
    const { id } = (await res.json()) as { id: string };
    await waitOnExecutionContext(ctx);
    expect((await h.job(id)).job).toMatchObject({ state: "queued", runner: "queue" });
    expect(h.sent.map((message) => message.body)).toEqual([{ kind: "run", jobId: id }]);
    const result = await h.consume(1);
    expect(result.explicitAcks).toEqual(["m1-0"]);
    expect((await h.job(id)).job).toMatchObject({ state: "succeeded", callback: { state: "delivered" } });
    expect(await deliveries("long")).toHaveLength(1);
  });

  it("run with Prefer: respond-async and no callback", async () => {
    const h = harness();
    const { res, ctx } = await h.submit({ steps }, { prefer: "respond-async" });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await waitOnExecutionContext(ctx);
    const { job } = await h.job(id);
    expect(job.state).toBe("succeeded");
    expect(job.callback).toBeUndefined();
  });

  it("record a failed job when the batch's mode condition fails", async () => {
    const h = harness();
    const { res, ctx } = await h.submit(
      { mode: "all", steps: [{ id: "bad", http: { url: "/v1/sim/status/500" } }] },
      { prefer: "respond-async" },
    );
    const { id } = (await res.json()) as { id: string };
    await waitOnExecutionContext(ctx);
    expect((await h.job(id)).job).toMatchObject({ state: "failed", result: { counts: { failed: 1 } } });
  });

  it("summarise a payload over CALLBACK_MAX_BYTES and point to statusUrl", async () => {
    const h = harness({ CALLBACK_MAX_BYTES: "1024" });
    const { res, ctx } = await h.submit({
      steps: [{ id: "big", http: { url: "/v1/sim/bytes/4000" } }],
      callback: { url: `${UPSTREAM}/webhook/big` },
    });
    const { id, statusUrl } = (await res.json()) as { id: string; statusUrl: string };
    await waitOnExecutionContext(ctx);
    const [delivery] = await deliveries("big");
    const payload = JSON.parse(delivery!.body) as { data: Record<string, unknown> };
    expect(payload.data).toMatchObject({ jobId: id, statusUrl, truncated: true, summary: { counts: { ok: 1 } } });
    expect(payload.data.result).toBeUndefined();
  });
});

describe("async batch submission rules", () => {
  it("refuse a callback URL off the allow-list, and a callback without any secret", async () => {
    const h = harness();
    const off = await expectProblem(
      (await h.submit({ steps, callback: { url: "http://169.254.169.254/hook" } })).res,
      400,
      "validation_failed",
    );
    expect(off.invalidParams?.[0]?.name).toBe("callback.url");
    const noSecret = harness({ WEBHOOK_SECRET: "" });
    const missing = await expectProblem(
      (await noSecret.submit({ steps, callback: { url: `${UPSTREAM}/webhook/x` } })).res,
      400,
      "validation_failed",
    );
    expect(missing.invalidParams?.[0]?.name).toBe("callback.secret");
  });

  it("use a per-job secret when given", async () => {
    const h = harness();
    const own = `whsec_${btoa("a per-job secret of 32 bytes!!!!")}`;
    const { ctx } = await h.submit({ steps, callback: { url: `${UPSTREAM}/webhook/own`, secret: own } });
    await waitOnExecutionContext(ctx);
    const [delivery] = await deliveries("own");
    expect(() => new Webhook(own).verify(delivery!.body, delivery!.headers)).not.toThrow();
    expect(() => new Webhook(SECRET).verify(delivery!.body, delivery!.headers)).toThrow();
  });

  it("show a job only to the key that created it: others get 404", async () => {
    const h = harness();
    const { res, ctx } = await h.submit({ steps }, { prefer: "respond-async" });
    const { id } = (await res.json()) as { id: string };
    await waitOnExecutionContext(ctx);
    expect((await h.job(id)).status).toBe(200);
    const other = await h.request(`/v1/jobs/${id}`, { key: "other-key-0123456789" });
    await expectProblem(other.res, 404, "not_found");
    await expectProblem((await h.request(`/v1/jobs/${crypto.randomUUID()}`)).res, 404, "not_found");
  });

  it("replay an Idempotency-Key with the same body as the same job, and refuse a different body with 422", async () => {
    const h = harness();
    const first = await h.submit({ steps }, { prefer: "respond-async", "idempotency-key": "order-1" });
    const { id } = (await first.res.json()) as { id: string };
    await waitOnExecutionContext(first.ctx);
    const replay = await h.submit({ steps }, { prefer: "respond-async", "idempotency-key": "order-1" });
    expect(replay.res.status).toBe(202);
    expect(((await replay.res.json()) as { id: string }).id).toBe(id);
    const conflict = await h.submit(
      { steps: [{ id: "other", wait: { ms: 1 } }] },
      { prefer: "respond-async", "idempotency-key": "order-1" },
    );
    await expectProblem(conflict.res, 422, "unprocessable");
    const otherKey = await h.request("/v1/batch", {
      method: "POST",
      key: "other-key-0123456789",
      body: JSON.stringify({ steps }),
      headers: { prefer: "respond-async", "idempotency-key": "order-1" },
    });
    expect(((await otherKey.res.json()) as { id: string }).id).not.toBe(id);
    await waitOnExecutionContext(otherKey.ctx);
  });
});

describe("audit records", () => {
  it("go through the audit queue after the response for sync and async batches, with no secrets in them", async () => {
    const h = harness();
    const sync = await h.submit({ steps });
    expect(sync.res.status).toBe(200);
    await waitOnExecutionContext(sync.ctx);
    const async = await h.submit({ steps, callback: { url: `${UPSTREAM}/webhook/audit` } });
    const { id } = (await async.res.json()) as { id: string };
    await waitOnExecutionContext(async.ctx);

    // Nothing in D1 until the queue batch is consumed.
    expect(h.audits).toHaveLength(2);
    expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM audit_log").first<{ n: number }>())?.n).toBe(0);
    const consumed = await h.consumeAudit();
    expect(consumed.explicitAcks).toEqual(["a-0", "a-1"]);

    const { results } = await env.DB.prepare("SELECT * FROM audit_log ORDER BY id").all<Record<string, unknown>>();
    expect(results).toHaveLength(2);
    expect(results[0]).toMatchObject({
      key_id: "test",
      request_id: sync.res.headers.get("x-request-id"),
      job_id: null,
      async: 0,
      mode: "allSettled",
      steps: 2,
      ok: 2,
      failed: 0,
    });
    expect(results[1]).toMatchObject({ key_id: "test", job_id: id, async: 1, steps: 2, ok: 2 });
    const text = JSON.stringify([results, h.audits]);
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(SECRET.slice(6));
  });

  it("reach D1 through the real queue and its consumer a moment after the response", async () => {
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request(`${BASE}/v1/batch`, {
        method: "POST",
        body: JSON.stringify({ steps }),
        headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      }),
      { ...env, AUDIT_ENABLED: "true" } as Env,
      ctx,
    );
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-request-id");
    await waitOnExecutionContext(ctx);
    // The queue delivers its batch after max_batch_timeout (2 s): poll every 50 ms, up to 10 s.
    let row: Record<string, unknown> | null = null;
    for (let waited = 0; !row && waited < 10_000; waited += 50) {
      row = await env.DB.prepare("SELECT * FROM audit_log WHERE request_id = ?1").bind(requestId).first();
      if (!row) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(row).toMatchObject({ key_id: "test", job_id: null, steps: 2, ok: 2 });
  });

  it("a failed queue send writes the record to D1 directly, and says so in one line", async () => {
    const h = harness();
    (h.env as unknown as { AUDIT: unknown }).AUDIT = {
      send: async () => {
        throw new Error("queue unavailable");
      },
    };
    const logged = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const { res, ctx } = await h.submit({ steps });
      expect(res.status).toBe(200);
      await waitOnExecutionContext(ctx);
      const { results } = await env.DB.prepare("SELECT * FROM audit_log").all<Record<string, unknown>>();
      expect(results).toMatchObject([{ request_id: res.headers.get("x-request-id"), job_id: null, steps: 2 }]);
      expect(logged.mock.calls.map(([line]) => String(line))).toContainEqual(
        expect.stringMatching(/"audit queue send failed; record written to D1 directly".*"task":"audit".*queue unavailable/),
      );
    } finally {
      logged.mockRestore();
    }
  });

  it("without the AUDIT binding, records are written to D1 directly (async jobs too)", async () => {
    const h = harness();
    delete (h.env as unknown as { AUDIT?: unknown }).AUDIT;
    await waitOnExecutionContext((await h.submit({ steps })).ctx);
    const async = await h.submit({ steps }, { prefer: "respond-async" });
    const { id } = (await async.res.json()) as { id: string };
    await waitOnExecutionContext(async.ctx);
    const { results } = await env.DB.prepare("SELECT job_id FROM audit_log ORDER BY id").all<{ job_id: string | null }>();
    expect(results.map((row) => row.job_id)).toEqual([null, id]);
  });

  it("a failing audit write never affects the response", async () => {
    const h = harness();
    (h.env as unknown as { AUDIT: unknown }).AUDIT = {
      send: async () => {
        throw new Error("queue unavailable");
      },
    };
    await env.DB.exec("DROP TABLE audit_log");
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const { res, ctx } = await h.submit({ steps });
      expect(res.status).toBe(200);
      await waitOnExecutionContext(ctx);
      // ...and is logged as one line naming the task, for the operator.
      expect(logged.mock.calls.map(([line]) => String(line))).toContainEqual(
        expect.stringMatching(/"post-response task failed".*"task":"audit".*no such table: audit_log/),
      );
    } finally {
      logged.mockRestore();
    }
  });

  it("GET /v1/audit pages through records for admin keys only", async () => {
    const h = harness();
    for (let i = 0; i < 3; i++) await waitOnExecutionContext((await h.submit({ steps })).ctx);
    await h.consumeAudit();
    const page = await h.request("/v1/audit?limit=2", { key: "admin-key-0123456789" });
    const first = (await page.res.json()) as { records: Array<{ id: number; keyId: string }>; nextCursor: number };
    expect(first.records).toHaveLength(2);
    expect(first.records[0]!.keyId).toBe("test");
    const next = await h.request(`/v1/audit?limit=2&cursor=${first.nextCursor}`, { key: "admin-key-0123456789" });
    const second = (await next.res.json()) as { records: unknown[]; nextCursor: number | null };
    expect(second.records).toHaveLength(1);
    expect(second.nextCursor).toBeNull();
    await expectProblem((await h.request("/v1/audit")).res, 403, "forbidden");
    await expectProblem((await h.request("/v1/audit?since=yesterday", { key: "admin-key-0123456789" })).res, 400, "validation_failed");
  });
});
