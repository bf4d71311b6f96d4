import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../functions/index";
import type { QueuedAuditRecord } from "../../lib/jobs/audit";

function record(n: number, overrides: Partial<QueuedAuditRecord> = {}): QueuedAuditRecord {
  return {
    recordId: `record-${n}`,
    createdAt: new Date(Date.UTC(2026, 10, 27, 12, 0, n)).toISOString(),
    requestId: `request-${n}`,
    keyId: "test",
    jobId: null,
    async: false,
    mode: "allSettled",
    steps: 3,
    counts: { ok: 3, failed: 0, skipped: 0, cancelled: 0 },
    durationMs: 12.6,
    bytes: 345,
    ...overrides,
  };
}

/** A D1 binding that counts what the consumer asks of it; `failBatch` makes its batch() reject. */
function countingDb({ failBatch = false } = {}) {
  const calls = { prepare: 0, batch: [] as number[] };
  const db = {
    prepare(query: string) {
      calls.prepare++;
      return env.DB.prepare(query);
    },
    async batch(statements: D1PreparedStatement[]) {
      calls.batch.push(statements.length);
      if (failBatch) throw new Error("D1_ERROR: database is locked");
      return env.DB.batch(statements);
    },
  };
  return { db: db as unknown as D1Database, calls };
}

async function consume(bodies: unknown[], db: D1Database, attempts = 1) {
  const batch = createMessageBatch(
    "fanout-audit",
    bodies.map((body, index) => ({ id: `m${index}`, timestamp: new Date(), attempts, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...env, DB: db } as Env, ctx);
  return getQueueResult(batch, ctx);
}

async function rows() {
  return (await env.DB.prepare("SELECT * FROM audit_log ORDER BY id").all<Record<string, unknown>>()).results;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the audit queue consumer", () => {
  it("writes a queue batch of 3 records as 3 rows with one D1 batch, and acks them", async () => {
    const { db, calls } = countingDb();
    const result = await consume([record(1), record(2), record(3, { jobId: "job-3", async: true })], db);
    expect(calls.batch).toEqual([3]);
    expect(calls.prepare).toBe(3);
    expect(result.explicitAcks.sort()).toEqual(["m0", "m1", "m2"]);
    expect(result.retryBatch.retry).toBe(false);
    expect(await rows()).toMatchObject([
      { request_id: "request-1", record_id: "record-1", job_id: null, async: 0, steps: 3, ok: 3, duration_ms: 13, bytes: 345 },
      { request_id: "request-2", record_id: "record-2" },
      { request_id: "request-3", record_id: "record-3", job_id: "job-3", async: 1 },
    ]);
  });

  it("acks an unreadable message with one warn line naming it, and never writes it", async () => {
    const warned = vi.spyOn(console, "warn").mockImplementation(() => {});
    const { db, calls } = countingDb();
    const { recordId: _, ...noId } = record(2);
    const result = await consume([record(1), { ...record(3), steps: "3" }, "not a record", noId, null], db);
    expect(result.explicitAcks.sort()).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(result.retryBatch.retry).toBe(false);
    expect(result.retryMessages).toEqual([]);
    expect(calls.batch).toEqual([1]);
    expect((await rows()).map((row) => row.request_id)).toEqual(["request-1"]);
    const lines = warned.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>);
    expect(lines.map((line) => [line.message, line.messageId])).toEqual([
      ["unreadable audit message; dropped", "m1"],
      ["unreadable audit message; dropped", "m2"],
      ["unreadable audit message; dropped", "m3"],
      ["unreadable audit message; dropped", "m4"],
    ]);
  });

  it("retries the whole queue batch when D1 refuses it, with one error line", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const { db } = countingDb({ failBatch: true });
    const result = await consume([record(1), record(2)], db);
    expect(result.retryBatch.retry).toBe(true);
    expect(result.explicitAcks).toEqual([]);
    expect(await rows()).toEqual([]);
    expect(logged).toHaveBeenCalledTimes(1);
    expect(String(logged.mock.calls[0]![0])).toMatch(
      /"audit batch write failed; retrying the batch later".*"records":2.*database is locked/,
    );
  });

  it("writes a redelivered record once", async () => {
    const { db } = countingDb();
    await consume([record(1), record(2)], db);
    const again = await consume([record(2), record(3)], db, 2);
    expect(again.explicitAcks.sort()).toEqual(["m0", "m1"]);
    expect((await rows()).map((row) => row.record_id)).toEqual(["record-1", "record-2", "record-3"]);
  });

  it("keeps two batches that share a client-sent request id as two rows", async () => {
    const { db } = countingDb();
    await consume([record(1), record(2, { requestId: "request-1" })], db);
    expect((await rows()).map((row) => row.request_id)).toEqual(["request-1", "request-1"]);
  });
});
