import { describe, expect, it } from "vitest";
import { FanoutError } from "../../../../lib/base/errors";
import type { Fetcher } from "../../../../lib/base/http";
import { parseAllowList } from "../../../../lib/base/policy";
import { runHttp } from "../../../../lib/batch/steps/http";
import type { HttpSpec } from "../../../../lib/batch/steps/types";
import { batchContext } from "../../batch-context";

/**
 * What each attempt of an http step sends. The parts every attempt shares (the step's headers, its
 * idempotency key, its body and content type) are built once per step; the per-attempt headers
 * (a fresh traceparent span, the attempt number) are added to each attempt and replace a value the
 * step itself set for them.
 */

interface Sent {
  method: string;
  headers: Record<string, string>;
  body: string;
}

/** Answers 503 until the `okAt`-th call, then 200; records what each call sent. */
function recordingFetcher(okAt: number): { sent: Sent[]; fetcher: Fetcher } {
  const sent: Sent[] = [];
  const fetcher: Fetcher = async (url, init) => {
    const request = new Request(url, init);
    sent.push({ method: request.method, headers: Object.fromEntries(request.headers), body: await request.text() });
    const status = sent.length >= okAt ? 200 : 503;
    return new Response(JSON.stringify({ call: sent.length }), { status, headers: { "content-type": "application/json" } });
  };
  return { sent, fetcher };
}

async function runStep(spec: HttpSpec, fetcher: Fetcher) {
  const deps = batchContext({ allowList: parseAllowList("https://api.example"), fetcher });
  try {
    return await runHttp(spec, { deps, signal: deps.deadline.signal });
  } finally {
    deps.deadline.dispose();
  }
}

describe("http step attempts", () => {
  it("sends the same headers and body on every attempt, with its own attempt number and span", async () => {
    const { sent, fetcher } = recordingFetcher(3);
    const output = await runStep(
      {
        url: "https://api.example/orders",
        method: "POST",
        headers: { "X-Team": "checkout", "X-Fanout-Attempt": "9", Traceparent: "00-client-chosen" },
        body: { item: 1 },
        idempotencyKey: "order-1",
        retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 },
        maxRedirects: 0,
      },
      fetcher,
    );
    expect(output).toMatchObject({ ok: true, status: 200, attempts: 3 });
    // The first call carries no attempt header (the client's "9" is dropped too); each retry says its number.
    expect(sent.map((call) => call.headers["x-fanout-attempt"])).toEqual([undefined, "2", "3"]);
    const spans = sent.map((call) => call.headers.traceparent);
    for (const span of spans) expect(span).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    expect(new Set(spans).size).toBe(3);
    for (const call of sent) {
      expect(call).toMatchObject({
        method: "POST",
        body: '{"item":1}',
        headers: { "x-team": "checkout", "idempotency-key": "order-1", "content-type": "application/json" },
      });
    }
  });

  it("keeps a content type the step chose, and sends a string body as text otherwise", async () => {
    const chosen = recordingFetcher(1);
    await runStep(
      { url: "https://api.example/a", method: "PUT", headers: { "Content-Type": "text/csv" }, body: "a,b", maxRedirects: 0 },
      chosen.fetcher,
    );
    expect(chosen.sent[0]).toMatchObject({ body: "a,b", headers: { "content-type": "text/csv" } });
    const text = recordingFetcher(1);
    await runStep({ url: "https://api.example/a", method: "PUT", body: "plain", maxRedirects: 0 }, text.fetcher);
    expect(text.sent[0]).toMatchObject({ body: "plain", headers: { "content-type": "text/plain; charset=utf-8" } });
  });

  it("a stop mid-retry is the result's error, with the attempts made before it (not a bare throw)", async () => {
    const stop = new AbortController();
    let calls = 0;
    // The first call answers 503; the second hangs until the stop, which comes once it has started.
    const fetcher: Fetcher = (_, init) => {
      if (++calls === 1) return Promise.resolve(new Response("busy", { status: 503 }));
      queueMicrotask(() => stop.abort(new FanoutError("cancelled", 'cancelled: step "x" failed first (mode all)')));
      return new Promise((_, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal!.reason)));
    };
    const deps = batchContext({ allowList: parseAllowList("https://api.example"), fetcher });
    try {
      const spec: HttpSpec = { url: "https://api.example/a", method: "GET", retry: { attempts: 3, baseDelayMs: 1 }, maxRedirects: 0 };
      expect(await runHttp(spec, { deps, signal: stop.signal })).toEqual({
        ok: false,
        attempts: 2,
        coalesced: false,
        error: { code: "cancelled", message: 'cancelled: step "x" failed first (mode all)' },
      });
    } finally {
      deps.deadline.dispose();
    }
  });
});
