import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import {
  API_KEY,
  type BatchBody,
  postBatchWithEnv,
  resetUpstream,
  runBatchJson,
  type StepResultBody,
  UPSTREAM,
  upstreamHits,
} from "./batch-helpers";

beforeEach(async () => {
  await resetUpstream();
});

describe("http steps", () => {
  it("fetch an upstream and return status, headers and JSON body", async () => {
    const { res, json } = await runBatchJson({ steps: [{ id: "a", http: { url: `${UPSTREAM}/delay?ms=5` } }] });
    expect(res.status).toBe(200);
    expect(json.results.a).toMatchObject({ ok: true, status: 200, body: { delayedMs: 5 }, attempts: 1, hedged: false, coalesced: false });
    expect(json.results.a!.headers!["content-type"]).toBe("application/json");
    expect(json).toMatchObject({ completed: true, mode: "allSettled", counts: { ok: 1, failed: 0, skipped: 0, cancelled: 0 } });
  });

  it("send a JSON body and headers, never the client's own credentials, plus per-origin credentials and trace context", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const { json } = await runBatchJson(
      {
        steps: [{ id: "echo", http: { url: `${UPSTREAM}/echo`, method: "POST", headers: { "x-custom": "1" }, body: { hello: "world" } } }],
      },
      { cookie: "session=client-secret", traceparent: `00-${traceId}-00f067aa0ba902b7-01`, "x-forwarded-for": "1.2.3.4" },
    );
    const echoed = json.results.echo!.body as { method: string; headers: Record<string, string>; body: string };
    expect(echoed.method).toBe("POST");
    expect(JSON.parse(echoed.body)).toEqual({ hello: "world" });
    expect(echoed.headers["content-type"]).toBe("application/json");
    expect(echoed.headers["x-custom"]).toBe("1");
    expect(echoed.headers.cookie).toBeUndefined();
    expect(echoed.headers.authorization).toBeUndefined();
    expect(JSON.stringify(echoed.headers)).not.toContain(API_KEY);
    expect(echoed.headers["x-upstream-key"]).toBe("upstream-secret-value");
    expect(echoed.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(echoed.headers.traceparent).not.toContain("00f067aa0ba902b7");
  });

  it("report a non-2xx answer as a failed step that still carries status and body", async () => {
    const { res, json } = await runBatchJson({ steps: [{ id: "a", http: { url: `${UPSTREAM}/status/404` } }] });
    expect(res.status).toBe(200);
    expect(json.results.a).toMatchObject({ ok: false, status: 404, body: { status: 404 }, error: { code: "http_status" } });
  });

  it("keep only picked fields", async () => {
    const { json } = await runBatchJson({
      steps: [{ id: "a", http: { url: `${UPSTREAM}/echo?x=1`, pick: ["method", "query.x", "absent"] } }],
    });
    expect(json.results.a!.body).toEqual({ method: "GET", "query.x": "1" });
  });

  it("serve relative /v1/sim/ URLs in-process, without the network", async () => {
    const { json } = await runBatchJson({ steps: [{ id: "sim", http: { url: "/v1/sim/delay/20?tag=x" } }] });
    expect(json.results.sim).toMatchObject({ ok: true, status: 200, body: { delayedMs: 20, args: { tag: "x" } } });
  });

  it("coalesce identical GETs within a batch into one upstream call", async () => {
    const step = { http: { url: `${UPSTREAM}/delay?ms=20` } };
    const { json } = await runBatchJson({
      steps: [
        { id: "a", ...step },
        { id: "b", ...step },
        { id: "c", http: { url: `${UPSTREAM}/delay?ms=21` } },
      ],
    });
    expect(await upstreamHits("/delay")).toBe(2);
    expect([json.results.a!.coalesced, json.results.b!.coalesced, json.results.c!.coalesced]).toEqual([false, true, false]);
    expect(json.results.b!.body).toEqual({ delayedMs: 20 });
  });

  it("coalescing is in flight only: a GET after a POST in the same batch reads again", async () => {
    const { json } = await runBatchJson({
      steps: [
        { id: "before", http: { url: `${UPSTREAM}/counter/chain` } },
        { id: "write", http: { url: `${UPSTREAM}/counter/chain`, method: "POST" }, dependsOn: ["before"] },
        { id: "after", http: { url: `${UPSTREAM}/counter/chain` }, dependsOn: ["write"] },
      ],
    });
    expect(await upstreamHits("/counter/chain")).toBe(3);
    expect(json.results.before).toMatchObject({ body: { value: 0 }, coalesced: false });
    expect(json.results.after).toMatchObject({ body: { value: 1 }, coalesced: false });
  });

  it("three identical GETs started together make one upstream call", async () => {
    const step = { http: { url: `${UPSTREAM}/counter/together?ms=50` } };
    const { json } = await runBatchJson({
      steps: [
        { id: "a", ...step },
        { id: "b", ...step },
        { id: "c", ...step },
      ],
    });
    expect(await upstreamHits("/counter/together")).toBe(1);
    expect(["a", "b", "c"].map((id) => json.results[id]!.coalesced)).toEqual([false, true, true]);
  });

  it("fail a step whose body exceeds MAX_STEP_RESPONSE_BYTES, without buffering the rest", async () => {
    const { json } = await runBatchJson({ steps: [{ id: "big", http: { url: `${UPSTREAM}/bytes/2000000?declare=false` } }] });
    expect(json.results.big).toMatchObject({ ok: false, error: { code: "response_too_large" } });
  });

  it("fail steps once the batch's responses together exceed MAX_BATCH_RESPONSE_BYTES", async () => {
    const res = await postBatchWithEnv(
      { MAX_BATCH_RESPONSE_BYTES: "150000" },
      {
        steps: [
          { id: "a", http: { url: `${UPSTREAM}/bytes/100000` } },
          { id: "b", http: { url: `${UPSTREAM}/bytes/100001` }, dependsOn: ["a"] },
        ],
      },
    );
    const json = (await res.json()) as BatchBody;
    expect(json.results.a!.ok).toBe(true);
    expect(json.results.b).toMatchObject({ ok: false, error: { code: "response_too_large" } });
    expect(json.results.b!.error!.message).toContain("MAX_BATCH_RESPONSE_BYTES");
  });
});

describe("MAX_BATCH_RESPONSE_BYTES holds when steps run at the same time", () => {
  const LIMIT = 8 * 1024 * 1024; // the default; ten 1,000,000-byte bodies are 10,000,000 bytes
  const cases = [
    { concurrency: 10, declare: true },
    { concurrency: 10, declare: false },
    { concurrency: 1, declare: true },
    { concurrency: 1, declare: false },
  ];
  for (const { concurrency, declare } of cases) {
    it(`ten 1,000,000-byte steps at concurrency ${concurrency}, ${declare ? "Content-Length declared" : "chunked"}`, async () => {
      const steps = Array.from({ length: 10 }, (_, i) => ({
        id: `s${i}`,
        http: { url: `${UPSTREAM}/bytes/1000000?declare=${declare}&n=${i}` },
      }));
      const { json } = await runBatchJson({ steps, concurrency });
      const results = Object.values(json.results) as Array<StepResultBody & { bytes?: number }>;
      const read = results.filter((result) => result.ok).reduce((sum, result) => sum + result.bytes!, 0);
      expect(read).toBeLessThanOrEqual(LIMIT);
      const failed = results.filter((result) => !result.ok);
      expect(failed.length).toBeGreaterThanOrEqual(2);
      for (const result of failed) {
        expect(result.error!.code).toBe("response_too_large");
        expect(result.error!.message).toContain("MAX_BATCH_RESPONSE_BYTES");
      }
      // Declared lengths are charged up front, so exactly the eight that fit succeed.
      if (declare) expect(results.filter((result) => result.ok)).toHaveLength(8);
    });
  }
});

describe("storage steps", () => {
  it("kv: one key, many keys with one bulk read, missing keys, and duplicate keys coalesced", async () => {
    await env.KV.put("flags:web", JSON.stringify({ dark: true }));
    await env.KV.put("flags:beta", JSON.stringify({ dark: false }));
    const { json } = await runBatchJson({
      steps: [
        { id: "one", kv: { key: "flags:web", type: "json" } },
        { id: "many", kv: { keys: ["flags:web", "flags:beta", "flags:none"], type: "json" } },
        { id: "missing", kv: { key: "flags:none" } },
      ],
    });
    expect(json.results.one).toMatchObject({ ok: true, body: { dark: true }, coalesced: false });
    expect(json.results.many).toMatchObject({
      ok: true,
      body: { "flags:web": { dark: true }, "flags:beta": { dark: false }, "flags:none": null },
      coalesced: true,
    });
    expect(json.results.missing).toMatchObject({ ok: false, status: 404, error: { code: "not_found" } });
  });

  it("kv: refuses keys outside KV_PREFIXES", async () => {
    const { json } = await runBatchJson({ steps: [{ id: "secret", kv: { key: "secrets:api" } }] });
    expect(json.results.secret).toMatchObject({ ok: false, error: { code: "forbidden_target" } });
    expect(json.results.secret!.error!.message).toContain("KV_PREFIXES");
  });

  it("r2: text, JSON, base64, byte range and metadata; prefixes enforced", async () => {
    await env.BUCKET.put("test/doc.json", JSON.stringify({ name: "doc" }), { httpMetadata: { contentType: "application/json" } });
    await env.BUCKET.put("test/bytes.bin", new Uint8Array([0, 1, 2, 250]));
    const { json } = await runBatchJson({
      steps: [
        { id: "text", r2: { key: "test/doc.json" } },
        { id: "json", r2: { key: "test/doc.json", as: "json" } },
        { id: "b64", r2: { key: "test/bytes.bin", as: "base64" } },
        { id: "range", r2: { key: "test/doc.json", range: { offset: 2, length: 4 } } },
        { id: "head", r2: { key: "test/doc.json", head: true } },
        { id: "missing", r2: { key: "test/none" } },
        { id: "outside", r2: { key: "private/x" } },
      ],
    });
    expect(json.results.text).toMatchObject({ ok: true, status: 200, body: '{"name":"doc"}' });
    expect(json.results.json!.body).toEqual({ name: "doc" });
    expect(json.results.b64!.body).toEqual({ base64: btoa(String.fromCharCode(0, 1, 2, 250)) });
    expect(json.results.range).toMatchObject({ status: 206, body: "name" });
    expect(json.results.head!.body).toMatchObject({ key: "test/doc.json", size: 14, contentType: "application/json" });
    expect(json.results.missing).toMatchObject({ ok: false, status: 404, error: { code: "not_found" } });
    expect(json.results.outside).toMatchObject({ ok: false, error: { code: "forbidden_target" } });
  });

  it("d1: runs only named queries, with parameters taken from another step", async () => {
    await env.DB.exec("INSERT OR REPLACE INTO users (id, name, email) VALUES (1, 'Ada', 'ada@example.com')");
    await env.DB.exec(
      "INSERT OR REPLACE INTO orders (id, user_id, total_cents, created_at) VALUES (1, 1, 1999, '2026-11-01'), (2, 1, 500, '2026-11-02')",
    );
    const { json } = await runBatchJson({
      steps: [
        { id: "user", d1: { query: "userById", params: [1] } },
        { id: "orders", d1: { query: "ordersByUser", params: ["{{user.body[0].id}}"] } },
      ],
    });
    expect(json.results.user!.body).toEqual([{ id: 1, name: "Ada", email: "ada@example.com" }]);
    expect(json.results.orders!.body).toEqual([
      { id: 1, total_cents: 1999, created_at: "2026-11-01" },
      { id: 2, total_cents: 500, created_at: "2026-11-02" },
    ]);
  });

  it("cache: a hit returns the cached response; a miss is not_found", async () => {
    const url = `${UPSTREAM}/cached-page`;
    await caches.default.put(
      url,
      new Response(JSON.stringify({ cached: true }), { headers: { "content-type": "application/json", "cache-control": "max-age=60" } }),
    );
    const { json } = await runBatchJson({
      steps: [
        { id: "hit", cache: { url } },
        { id: "miss", cache: { url: `${UPSTREAM}/never-cached` } },
      ],
    });
    expect(json.results.hit).toMatchObject({ ok: true, status: 200, body: { cached: true } });
    expect(json.results.miss).toMatchObject({ ok: false, status: 404, error: { code: "not_found" } });
  });

  it("wait: a timer bounded by the deadline", async () => {
    const { json } = await runBatchJson({ steps: [{ id: "w", wait: { ms: 30 } }] });
    expect(json.results.w).toMatchObject({ ok: true, body: { waitedMs: 30 } });
    expect(json.results.w!.durationMs).toBeGreaterThanOrEqual(25);
  });
});

describe("references and forEach", () => {
  it("pass status, headers and body between steps, URL-encoded inside URLs", async () => {
    const { json } = await runBatchJson({
      steps: [
        { id: "first", http: { url: `${UPSTREAM}/echo?name=${encodeURIComponent("Ada L/1")}` } },
        {
          id: "second",
          http: {
            url: `${UPSTREAM}/echo?n={{first.body.query.name}}&s={{first.status}}`,
            method: "POST",
            headers: { "x-type": "{{first.headers.content-type}}" },
            body: { whole: "{{first.body.query}}", status: "{{first.status}}" },
          },
        },
      ],
    });
    const second = json.results.second!.body as { query: Record<string, string>; headers: Record<string, string>; body: string };
    expect(second.query).toEqual({ n: "Ada L/1", s: "200" });
    expect(second.headers["x-type"]).toBe("application/json");
    expect(JSON.parse(second.body)).toEqual({ whole: { name: "Ada L/1" }, status: 200 });
  });

  it("fan out with forEach over [*], with item and index", async () => {
    const { json } = await runBatchJson({
      steps: [
        { id: "list", http: { url: "/v1/sim/delay/1?a=x" } },
        {
          id: "each",
          forEach: [{ id: 3 }, { id: 4 }],
          http: { url: `${UPSTREAM}/echo?id={{item.id}}&i={{index}}&from={{list.body.args.a}}`, pick: ["query"] },
        },
        { id: "ids", forEach: "{{each.body[*].query.id}}", wait: { ms: 1 } },
      ],
    });
    expect(json.results.each).toMatchObject({ ok: true, status: 200 });
    expect(json.results.each!.body).toEqual([{ query: { id: "3", i: "0", from: "x" } }, { query: { id: "4", i: "1", from: "x" } }]);
    expect(json.results.each!.items).toHaveLength(2);
    expect(json.results.ids!.items).toHaveLength(2);
  });

  it("report a missing reference at run time and skip its dependents", async () => {
    const { json } = await runBatchJson({
      steps: [
        { id: "a", http: { url: "/v1/sim/delay/1" } },
        { id: "b", http: { url: `${UPSTREAM}/echo?x={{a.body.nothing}}` } },
        { id: "c", wait: { ms: 1 }, dependsOn: ["b"] },
      ],
    });
    expect(json.results.b!.error).toEqual({
      code: "reference_missing",
      message: '{{a.body.nothing}}: no field "nothing" in an object (fields: delayedMs, args)',
    });
    expect(json.results.c!.error).toMatchObject({ code: "skipped", dependency: "b" });
    expect(json.counts).toEqual({ ok: 1, failed: 1, skipped: 1, cancelled: 0 });
  });

  it("fail a forEach whose reference expands past MAX_STEPS at run time (a literal one is a 400 up front)", async () => {
    await env.KV.put("test:list", JSON.stringify(Array.from({ length: 150 }, (_, i) => i)));
    const { json } = await runBatchJson({
      steps: [
        { id: "list", kv: { key: "test:list", type: "json" } },
        { id: "each", forEach: "{{list.body}}", wait: { ms: 1 } },
      ],
    });
    expect(json.results.each).toMatchObject({ ok: false, error: { code: "limit_exceeded" } });
    expect(json.results.each!.error!.message).toContain("MAX_STEPS");
  });
});

describe("observability", () => {
  it("gives one Server-Timing entry per step", async () => {
    const { res } = await runBatchJson({
      steps: [
        { id: "a", wait: { ms: 1 } },
        { id: "b-2", wait: { ms: 1 } },
      ],
    });
    const timing = res.headers.get("server-timing")!;
    expect(timing).toMatch(/step-a;dur=\d+(\.\d+)?;desc="ok 200"/);
    expect(timing).toMatch(/step-b-2;dur=/);
    expect(timing).toContain("total");
  });

  it("gives one summary Server-Timing entry, naming the slowest step, for a batch of more than 10 steps", async () => {
    const steps = Array.from({ length: 11 }, (_, i) => ({ id: `s${i}`, wait: { ms: i === 7 ? 300 : 1 } }));
    const { res } = await runBatchJson({ steps });
    const timing = res.headers.get("server-timing")!;
    expect(timing).toMatch(/(^|, )steps;dur=\d+(\.\d+)?;desc="11 steps, slowest s7"/);
    expect(timing).not.toContain("step-");
  });
});
