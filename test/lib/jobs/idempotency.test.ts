import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../../lib/base/bytes";
import { claimIdempotencyKey, type IdempotencyKey, type IdempotencyRecord, releaseIdempotencyKey } from "../../../lib/jobs/idempotency";

const namespace = env.IDEMPOTENCY_KEYS;
const record = (jobId: string): IdempotencyRecord => ({
  jobId,
  bodyHash: `hash-${jobId}`,
  statusUrl: `http://fanout.test/v1/jobs/${jobId}`,
});
const claim = (key: string, jobId: string, keyId = "test") =>
  claimIdempotencyKey(namespace, { keyId, key, candidate: record(jobId), ttlSeconds: 60 });
const stubOf = async (key: string, keyId = "test") =>
  namespace.get(namespace.idFromName(`${keyId}:${await sha256Hex(key)}`)) as DurableObjectStub<IdempotencyKey>;
const rows = (state: DurableObjectState) =>
  state.storage.sql.exec<{ job_id: string; expires_at: number }>("SELECT job_id, expires_at FROM claim").toArray();

describe("claimIdempotencyKey", () => {
  it("gives the key to the first claim and the first claim's record to every later one", async () => {
    expect(await claim("k1", "job-1")).toEqual({ created: true, record: record("job-1") });
    expect(await claim("k1", "job-2")).toEqual({ created: false, record: record("job-1") });
    expect(await claim("k1", "job-3", "other")).toEqual({ created: true, record: record("job-3") });
  });

  it("lets exactly one of 50 simultaneous claims win", async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => claim("k-race", `job-${i}`)));
    const winners = results.filter((result) => result.created);
    expect(winners).toHaveLength(1);
    expect(new Set(results.map((result) => result.record.jobId))).toEqual(new Set([winners[0]!.record.jobId]));
  });

  it("treats a claim older than its TTL as absent", async () => {
    await claim("k-old", "job-old");
    const stub = await stubOf("k-old");
    await runInDurableObject(stub, (_, state) => void state.storage.sql.exec("UPDATE claim SET expires_at = ?", Date.now() - 1));
    expect(await claim("k-old", "job-new")).toEqual({ created: true, record: record("job-new") });
    await runInDurableObject(stub, (_, state) => {
      const [row] = rows(state);
      expect(row!.job_id).toBe("job-new");
      expect(row!.expires_at).toBeGreaterThan(Date.now() + 59_000);
    });
  });

  it("schedules an alarm at expiry that deletes an expired claim and keeps a live one", async () => {
    await claim("k-alarm", "job-a");
    const stub = await stubOf("k-alarm");
    const alarmAt = await runInDurableObject(stub, (_, state) => state.storage.getAlarm());
    expect(alarmAt).toBeGreaterThan(Date.now() + 59_000);
    // Run early, the alarm keeps the claim and re-arms itself.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await runInDurableObject(stub, async (_, state) => [rows(state).length, await state.storage.getAlarm()])).toEqual([
      1,
      expect.any(Number),
    ]);
    // Run after expiry, it deletes everything.
    await runInDurableObject(stub, (_, state) => void state.storage.sql.exec("UPDATE claim SET expires_at = ?", Date.now() - 1));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(
      await runInDurableObject(stub, (_, state) => state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 'claim'").toArray()),
    ).toEqual([]);
    // The same (still live) object takes a new claim after that.
    expect(await claim("k-alarm", "job-b")).toEqual({ created: true, record: record("job-b") });
  });

  it("releases a key only for the job that holds it", async () => {
    await claim("k-rel", "job-1");
    await releaseIdempotencyKey(namespace, { keyId: "test", key: "k-rel", jobId: "job-other" });
    expect((await claim("k-rel", "job-2")).created).toBe(false);
    await releaseIdempotencyKey(namespace, { keyId: "test", key: "k-rel", jobId: "job-1" });
    expect(await claim("k-rel", "job-2")).toEqual({ created: true, record: record("job-2") });
  });

  it("checks its options before any I/O", async () => {
    await expect(claimIdempotencyKey(namespace, { keyId: "test", key: "k", candidate: record("j"), ttlSeconds: 0 })).rejects.toThrow(
      RangeError,
    );
    await expect(claimIdempotencyKey(namespace, { keyId: "test", key: "k", candidate: record("j"), ttlSeconds: 1.5 })).rejects.toThrow(
      /ttlSeconds/,
    );
    await expect(claimIdempotencyKey(namespace, { keyId: "", key: "k", candidate: record("j"), ttlSeconds: 60 })).rejects.toThrow(/keyId/);
  });
});
