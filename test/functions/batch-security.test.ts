import { beforeEach, describe, expect, it } from "vitest";
import { postBatch, resetUpstream, runBatchJson, UPSTREAM, upstreamHits } from "./batch-helpers";
import { expectProblem } from "./helpers";

beforeEach(async () => {
  await resetUpstream();
});

describe("upstream response headers that belong to the upstream connection or session", () => {
  it("Set-Cookie and Proxy-Authenticate never reach a step's result; ordinary headers do", async () => {
    const { res, json } = await runBatchJson({ steps: [{ id: "x", http: { url: `${UPSTREAM}/cookie` } }] });
    expect(res.status).toBe(200);
    expect(json.results.x).toMatchObject({ ok: true, status: 200, body: { cookies: 2 } });
    const headers = json.results.x!.headers!;
    // The fixture really sent them (the ordinary header proves the headers were read at all).
    expect(headers["x-kept"]).toBe("yes");
    expect(Object.keys(headers)).not.toContain("set-cookie");
    expect(Object.keys(headers)).not.toContain("proxy-authenticate");
    expect(JSON.stringify(json)).not.toContain("upstream-secret");
    // Nor does the gateway's own response carry the upstream's cookie.
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(await upstreamHits("/cookie")).toBe(1);
  });

  it("the same holds for a streamed (NDJSON) result line", async () => {
    const res = await postBatch({ steps: [{ id: "x", http: { url: `${UPSTREAM}/cookie` } }] }, { accept: "application/x-ndjson" });
    const text = new TextDecoder().decode(await res.arrayBuffer());
    const result = text
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { type: string; id?: string; headers?: Record<string, string> })
      .find((line) => line.type === "result" && line.id === "x");
    expect(result?.headers?.["x-kept"]).toBe("yes");
    expect(Object.keys(result!.headers!)).not.toContain("set-cookie");
    expect(text).not.toContain("upstream-secret");
    expect(res.headers.get("set-cookie")).toBeNull();
  });
});

describe("IPv4 addresses written any way but a.b.c.d are refused, though they mean the allowed 127.0.0.1", () => {
  const port = new URL(UPSTREAM).port;

  it.each([
    `http://127.1:${port}/echo`,
    `http://0x7f000001:${port}/echo`,
    `http://2130706433:${port}/echo`,
    `http://0177.0.0.1:${port}/echo`,
  ])("%s -> forbidden_target, never reached", async (url) => {
    const { json } = await runBatchJson({ steps: [{ id: "x", http: { url } }] });
    expect(json.results.x).toMatchObject({ ok: false, error: { code: "forbidden_target" } });
    expect(json.results.x!.error!.message).toMatch(/^non-canonical IPv4 address ".+" \(read as 127\.0\.0\.1\): write it as a\.b\.c\.d/);
    expect(await upstreamHits("/echo")).toBe(0);
  });

  it.each([`http://127.1:${port}/echo`, `//0x7f.0.0.1:${port}/echo`])("a redirect to %s is blocked before it is followed", async (to) => {
    const { json } = await runBatchJson({ steps: [{ id: "x", http: { url: `${UPSTREAM}/redirect?to=${encodeURIComponent(to)}` } }] });
    expect(json.results.x).toMatchObject({ ok: false, error: { code: "redirect_blocked" } });
    expect(json.results.x!.error!.message).toMatch(/^redirect refused: non-canonical IPv4 address/);
    expect(await upstreamHits("/redirect")).toBe(1);
    expect(await upstreamHits("/echo")).toBe(0);
  });

  it("a callback URL spelled that way is refused up front, naming callback.url", async () => {
    const res = await postBatch({ steps: [{ id: "w", wait: { ms: 1 } }], callback: { url: `http://2130706433:${port}/webhook/spelled` } });
    const problem = await expectProblem(res, 400, "validation_failed");
    expect(problem.invalidParams).toEqual([
      { name: "callback.url", reason: expect.stringMatching(/^non-canonical IPv4 address "2130706433"/) },
    ]);
  });

  it("the canonical spelling of the same address is followed", async () => {
    const { json } = await runBatchJson({
      steps: [{ id: "x", http: { url: `${UPSTREAM}/redirect?to=${encodeURIComponent(`//127.0.0.1:${port}/echo`)}` } }],
    });
    expect(json.results.x).toMatchObject({ ok: true, status: 200 });
    expect(await upstreamHits("/echo")).toBe(1);
  });
});
