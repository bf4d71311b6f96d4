import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { API_KEY, postBatch, UPSTREAM } from "./batch-helpers";
import { call } from "./helpers";

/**
 * The access log: one JSON line per request at info (functions/http/access-log.ts), with the route's
 * pattern, the status, the duration, the request and key ids, a batch's step counts and a composite's
 * cache status; never a body, the API key or the Authorization header.
 */

interface AccessLine {
  level: string;
  message: string;
  time: string;
  requestId: string;
  method: string;
  route?: string;
  status: number;
  durationMs: number;
  keyId?: string;
  steps?: { ok: number; failed: number; skipped: number; cancelled: number };
  cacheStatus?: string;
  streamed?: boolean;
}

let spy: MockInstance<typeof console.log>;
beforeEach(() => {
  spy = vi.spyOn(console, "log");
});
afterEach(() => {
  spy.mockRestore();
});

/** Every line console.log wrote so far, as written (strings). */
function written(): string[] {
  return spy.mock.calls.map((args) => args.map(String).join(" "));
}

/** The access-log lines written so far, parsed. */
function accessLines(): AccessLine[] {
  return written()
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as AccessLine)
    .filter((line) => line.message === "request");
}

/** The access-log lines of the request that answered `res` (its x-request-id). */
function linesOf(res: Response): AccessLine[] {
  const id = res.headers.get("x-request-id");
  expect(id).toBeTruthy();
  return accessLines().filter((line) => line.requestId === id);
}

/** The one access-log line of `res`, once it is written. */
async function lineOf(res: Response): Promise<AccessLine> {
  await vi.waitFor(() => expect(linesOf(res)).toHaveLength(1));
  return linesOf(res)[0]!;
}

const BATCH = {
  steps: [
    { id: "a", http: { url: "/v1/sim/delay/1" } },
    { id: "b", http: { url: `${UPSTREAM}/echo?x={{a.body.nothing}}` } },
    { id: "c", wait: { ms: 1 }, dependsOn: ["b"] },
  ],
};

describe("the access log", () => {
  // Storage is empty at the start of each test: the demo composite's keys.
  beforeEach(async () => {
    await env.KV.put("flags:web", JSON.stringify({ newCheckout: true, darkMode: false }));
    await env.KV.put("greeting", "hello from local KV");
  });

  it("writes one JSON line per request at info, with the route's pattern, not the path", async () => {
    const res = await call("/v1/sim/delay/7?jitter=0");
    expect(res.status).toBe(200);
    await res.text();
    const line = await lineOf(res);
    expect(line).toMatchObject({ level: "info", message: "request", method: "GET", route: "/v1/sim/delay/:ms", status: 200 });
    expect(line.durationMs).toBeGreaterThanOrEqual(0);
    expect(Number.isNaN(Date.parse(line.time))).toBe(false);
    expect(line).not.toHaveProperty("keyId");
    expect(line).not.toHaveProperty("steps");
    const raw = written().find((text) => text.includes(line.requestId) && text.includes('"message":"request"'))!;
    expect(raw).not.toContain("/v1/sim/delay/7");
    expect(raw).not.toContain("jitter");
  });

  it("gives a batch its key id and step counts, one line although its steps call /v1/sim/ in-process, and never the key", async () => {
    const res = await postBatch(BATCH);
    expect(res.status).toBe(200);
    await res.json();
    const line = await lineOf(res);
    expect(line).toMatchObject({
      method: "POST",
      route: "/v1/batch",
      status: 200,
      keyId: "test",
      steps: { ok: 1, failed: 1, skipped: 1, cancelled: 0 },
    });
    expect(line).not.toHaveProperty("streamed");
    // The in-process GET /v1/sim/delay/1 made by step a has no line of its own.
    expect(accessLines().filter((other) => other.route === "/v1/sim/delay/:ms")).toEqual([]);
    const everything = written().join("\n");
    expect(everything).not.toContain(API_KEY);
    expect(everything.toLowerCase()).not.toContain("bearer");
    expect(everything).not.toContain("nothing"); // the body's template
  });

  it("writes a streamed batch's line when the batch has ended, with its counts", async () => {
    const res = await postBatch(BATCH, { accept: "application/x-ndjson" });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.trim().split("\n")).toHaveLength(4);
    const line = await lineOf(res);
    expect(line).toMatchObject({ route: "/v1/batch", status: 200, streamed: true, keyId: "test", steps: { ok: 1, failed: 1, skipped: 1 } });
  });

  it("names the refused request's route and status, without a key id", async () => {
    const res = await postBatch(BATCH, { authorization: "Bearer wrong-key-0123456789" });
    expect(res.status).toBe(401);
    await res.text();
    const line = await lineOf(res);
    expect(line).toMatchObject({ method: "POST", route: "/v1/batch", status: 401 });
    expect(line).not.toHaveProperty("keyId");
    expect(line).not.toHaveProperty("steps");
    expect(written().join("\n")).not.toContain("wrong-key");
  });

  it("has no route for a path no route matches", async () => {
    const res = await call("/v1/nothing-here/42");
    expect(res.status).toBe(404);
    await res.text();
    const line = await lineOf(res);
    expect(line).toMatchObject({ method: "GET", status: 404 });
    expect(line).not.toHaveProperty("route");
  });

  it("gives a composite its cache status, as its Cache-Status header says", async () => {
    const res = await call("/v1/c/welcome");
    expect(res.status).toBe(200);
    await res.text();
    const line = await lineOf(res);
    expect(line).toMatchObject({ method: "GET", route: "/v1/c/welcome", status: 200 });
    expect(line.cacheStatus).toBeTruthy();
    expect(line.cacheStatus).toBe(res.headers.get("cache-status"));
  });
});
