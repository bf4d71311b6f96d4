import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../functions/index";
import type { StoredJob } from "../../lib/jobs/store";
import { API_KEY, resetUpstream } from "./batch-helpers";
import { BASE, expectProblem } from "./helpers";

const OTHER_KEY = "other-key-0123456789";
// A deadline over ASYNC_WAITUNTIL_LIMIT_MS makes every job a queue job: creating one sends exactly one
// `run` message and runs nothing in the test, so both the KV records and the sends count the jobs.
const body = { deadlineMs: 25_000, steps: [{ id: "a", wait: { ms: 1 } }] };
const otherBody = { deadlineMs: 25_000, steps: [{ id: "b", wait: { ms: 1 } }] };

/** The real worker with a JOBS queue that records what is sent. */
function harness(overrides: Record<string, unknown> = {}) {
  const runs: unknown[] = [];
  const testEnv = {
    ...env,
    JOBS: { send: async (message: unknown) => void runs.push(message), sendBatch: async () => {} },
    ...overrides,
  } as unknown as Env;
  return {
    runs,
    async submit(payload: unknown, idempotencyKey: string, key = API_KEY) {
      const ctx = createExecutionContext();
      const res = await worker.fetch(
        new Request(`${BASE}/v1/batch`, {
          method: "POST",
          body: JSON.stringify(payload),
          headers: {
            authorization: `Bearer ${key}`,
            "content-type": "application/json",
            prefer: "respond-async",
            "idempotency-key": idempotencyKey,
          },
        }),
        testEnv,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return res;
    },
  };
}

/** Every job record in KV (storage is emptied after each test, so these are this test's jobs). */
async function storedJobs(): Promise<StoredJob[]> {
  const { keys } = await env.KV.list({ prefix: "job:" });
  return Promise.all(keys.map(async ({ name }) => (await env.KV.get<StoredJob>(name, "json"))!));
}

async function accepted(res: Response): Promise<{ id: string; location: string | null }> {
  expect(res.status).toBe(202);
  const answer = (await res.json()) as { id: string; statusUrl: string };
  expect(res.headers.get("location")).toBe(answer.statusUrl);
  expect(answer.statusUrl).toBe(`${BASE}/v1/jobs/${answer.id}`);
  return { id: answer.id, location: res.headers.get("location") };
}

beforeEach(async () => {
  await resetUpstream();
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("Idempotency-Key under simultaneous first submissions", () => {
  it("20 at once with one key and one body create exactly 1 job, and all 20 answers name it", async () => {
    const h = harness();
    const answers = await Promise.all(Array.from({ length: 20 }, () => h.submit(body, "order-20").then(accepted)));
    const jobs = await storedJobs();
    expect(jobs).toHaveLength(1);
    expect(h.runs).toEqual([{ kind: "run", jobId: jobs[0]!.record.id }]);
    expect(new Set(answers.map((answer) => answer.id))).toEqual(new Set([jobs[0]!.record.id]));
    expect(new Set(answers.map((answer) => answer.location))).toEqual(new Set([jobs[0]!.record.statusUrl]));
    // A later replay still names the same job.
    expect((await accepted(await h.submit(body, "order-20"))).id).toBe(jobs[0]!.record.id);
  });

  it("a different body sent at the same time gets 422; the body that won gets the one job", async () => {
    const h = harness();
    const settled = await Promise.all(Array.from({ length: 20 }, (_, i) => h.submit(i % 2 ? otherBody : body, "order-mixed")));
    const jobs = await storedJobs();
    expect(jobs).toHaveLength(1);
    const [job] = jobs;
    const winner = (job!.request as typeof body).steps[0]!.id === body.steps[0]!.id ? 0 : 1;
    for (const [i, res] of settled.entries()) {
      if (i % 2 === winner) expect((await accepted(res)).id).toBe(job!.record.id);
      else
        expect((await expectProblem(res, 422, "unprocessable")).invalidParams).toEqual([
          { name: "Idempotency-Key", reason: "reused with a different body" },
        ]);
    }
    expect(h.runs).toHaveLength(1);
  });

  it("the same Idempotency-Key under two API keys makes two independent jobs", async () => {
    const h = harness();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => h.submit(i % 2 ? otherBody : body, "order-shared", i % 2 ? OTHER_KEY : API_KEY).then(accepted)),
    );
    const jobs = await storedJobs();
    expect(jobs).toHaveLength(2);
    const idOf = (keyId: string) => jobs.find((job) => job.record.keyId === keyId)!.record.id;
    expect(answers.map((answer) => answer.id)).toEqual(answers.map((_, i) => idOf(i % 2 ? "other" : "test")));
    expect(idOf("other")).not.toBe(idOf("test"));
  });

  it("a submission that could not store its job frees the key: the retry creates the job", async () => {
    let failPuts = 1;
    const flakyKv = {
      get: (...args: Parameters<KVNamespace["get"]>) => env.KV.get(...args),
      put: async (...args: Parameters<KVNamespace["put"]>) => {
        if (failPuts-- > 0) throw new Error("KV PUT failed: 429 Too Many Requests");
        return env.KV.put(...args);
      },
    };
    const h = harness({ KV: flakyKv });
    // The failed write is logged as a failed request; captured here so a passing run prints no error line.
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    expect((await h.submit(body, "order-retry")).status).toBe(500);
    expect(errors.mock.calls.map(([line]) => JSON.parse(String(line)))).toEqual([
      expect.objectContaining({ message: "request failed", error: "KV PUT failed: 429 Too Many Requests" }),
    ]);
    expect(await storedJobs()).toHaveLength(0);
    const { id } = await accepted(await h.submit(body, "order-retry"));
    const jobs = await storedJobs();
    expect(jobs.map((job) => job.record.id)).toEqual([id]);
    expect(h.runs).toEqual([{ kind: "run", jobId: id }]);
  });

  it("an Idempotency-Key of more than 255 characters is refused naming the header", async () => {
    const res = await harness().submit(body, "k".repeat(256));
    expect((await expectProblem(res, 400, "validation_failed")).invalidParams).toEqual([
      { name: "Idempotency-Key", reason: "1 to 255 characters" },
    ]);
  });
});
