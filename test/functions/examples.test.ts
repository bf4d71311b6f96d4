import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../functions/index";
import { API_KEY, upstreamHits } from "./batch-helpers";
import { BASE, call, expectProblem } from "./helpers";

const upstream = `http://127.0.0.1:${env.UPSTREAM_PORT}`;
/** The callback writes KV and the fetch reaches upstreams: both need an API key (functions/http/access.ts). */
const keyed = { headers: { authorization: `Bearer ${API_KEY}` } };

describe("GET /v1/examples/coroutine", () => {
  it("delivers Start before the wait and End after it", async () => {
    const started = Date.now();
    const res = await call("/v1/examples/coroutine?ms=300");
    expect(res.headers.get("content-type")).toContain("text/plain");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("Start\n")) text += (await reader.read()).value ?? "";
    const startAt = Date.now() - started;
    expect(text).toBe("Start\n");
    while (!text.includes("End\n")) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
    }
    const endAt = Date.now() - started;
    expect(text).toBe("Start\nEnd\n");
    expect(startAt).toBeLessThan(250);
    expect(endAt - startAt).toBeGreaterThanOrEqual(250);
  });
});

describe("GET /v1/examples/gather", () => {
  it("runs k waits concurrently: near one wait, not the sum", async () => {
    const res = await call("/v1/examples/gather?k=10&ms=200");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { k: number; concurrentMs: number; sequentialMs: number; speedup: number };
    expect(body).toMatchObject({ k: 10, ms: 200, sequentialMs: 2000 });
    expect(body.concurrentMs).toBeGreaterThanOrEqual(195);
    expect(body.concurrentMs).toBeLessThan(1000);
    expect(body.speedup).toBeGreaterThan(2);
  });

  it("bounds k", async () => {
    const body = await expectProblem(await call("/v1/examples/gather?k=101"), 400, "validation_failed");
    expect(body.invalidParams).toEqual([{ name: "k", reason: "k must be <= 100" }]);
  });
});

describe("GET /v1/examples/callback", () => {
  it("answers before the callback has run; the record exists afterwards", async () => {
    const ctx = createExecutionContext();
    const res = await worker.fetch(new Request(`${BASE}/v1/examples/callback?ms=50`, keyed), env, ctx);
    expect(res.status).toBe(202);
    const { id, recordUrl } = (await res.json()) as { id: string; recordUrl: string };
    expect(recordUrl).toBe(`${BASE}/v1/examples/callback/${id}`);

    const before = await worker.fetch(new Request(recordUrl, keyed), env, createExecutionContext());
    await expectProblem(before, 404, "not_found");

    await waitOnExecutionContext(ctx);
    const after = await worker.fetch(new Request(recordUrl, keyed), env, createExecutionContext());
    expect(after.status).toBe(200);
    const record = (await after.json()) as { id: string; outcome: string; waitedMs: number; registeredAt: string; ranAt: string };
    expect(record).toMatchObject({ id, outcome: "ok", waitedMs: 50 });
    expect(Date.parse(record.ranAt)).toBeGreaterThanOrEqual(Date.parse(record.registeredAt));
  });

  it("needs an API key: anonymous, it writes nothing", async () => {
    const ctx = createExecutionContext();
    await expectProblem(await worker.fetch(new Request(`${BASE}/v1/examples/callback?ms=0`), env, ctx), 401, "unauthorized");
    await waitOnExecutionContext(ctx);
    expect((await env.KV.list({ prefix: "example:callback:" })).keys).toEqual([]);
  });

  it("refuses an id that is not a UUID", async () => {
    const body = await expectProblem(await call("/v1/examples/callback/nope", keyed), 400, "validation_failed");
    expect(body.invalidParams?.[0]?.name).toBe("id");
  });
});

describe("GET /v1/examples/fetch", () => {
  it("fetches an allow-listed URL and returns status and text", async () => {
    const res = await call(`/v1/examples/fetch?url=${encodeURIComponent(`${upstream}/delay?ms=10`)}`, keyed);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: number; ok: boolean; text: string; bytes: number };
    expect(body).toMatchObject({ status: 200, ok: true, redirects: 0, contentType: "application/json" });
    expect(JSON.parse(body.text)).toEqual({ delayedMs: 10 });
  });

  it("needs an API key: anonymous, it never reaches the upstream (it would be an open proxy)", async () => {
    await expectProblem(await call(`/v1/examples/fetch?url=${encodeURIComponent(`${upstream}/anonymous-probe`)}`), 401, "unauthorized");
    expect(await upstreamHits("/anonymous-probe")).toBe(0);
  });

  it("reports the upstream's own error status as data", async () => {
    const body = (await (await call(`/v1/examples/fetch?url=${encodeURIComponent(`${upstream}/status/503`)}`, keyed)).json()) as {
      status: number;
      ok: boolean;
    };
    expect(body).toMatchObject({ status: 503, ok: false });
  });

  it("answers 504 when the upstream hangs past timeoutMs", async () => {
    const body = await expectProblem(
      await call(`/v1/examples/fetch?timeoutMs=200&url=${encodeURIComponent(`${upstream}/hang`)}`, keyed),
      504,
      "timeout",
    );
    expect(body.detail).toContain("200 ms");
  });

  it.each([
    "http://169.254.169.254/latest/meta-data/",
    "file:///etc/passwd",
    "http://2130706433/",
    `http://user:pw@127.0.0.1:${env.UPSTREAM_PORT}/echo`,
  ])("refuses %s as forbidden_target", async (target) => {
    await expectProblem(await call(`/v1/examples/fetch?url=${encodeURIComponent(target)}`, keyed), 403, "forbidden_target");
  });

  it("answers 502 for an unreachable upstream without leaking internals", async () => {
    const body = await expectProblem(
      await call(`/v1/examples/fetch?url=${encodeURIComponent("http://127.0.0.1:9/")}`, keyed),
      502,
      "network",
    );
    expect(body.detail).toBe("could not reach the upstream");
  });
});
