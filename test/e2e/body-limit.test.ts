import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "./server";

/**
 * An oversized body sent with `Transfer-Encoding: chunked` (no Content-Length, so the limit is found while reading)
 * gets its 413, and never costs the next request: answering with the body half-read used to make the local server
 * answer the NEXT request 503 "Your worker restarted mid-request".
 */

const PORT = 8805;
const KEY = "fanout-local-demo-key";
const BATCH = JSON.stringify({ steps: [{ id: "w", wait: { ms: 1 } }] });

let server: RunningServer;

beforeAll(async () => {
  server = await startServer(PORT);
});

afterAll(async () => {
  await server?.stop();
});

/** POSTs `bytes` in 16 KiB chunks with `Transfer-Encoding: chunked` and no Content-Length. */
function postChunked(path: string, bytes: Buffer): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.origin}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "transfer-encoding": "chunked" },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, contentType: res.headers["content-type"] ?? "", body }));
    });
    for (let offset = 0; offset < bytes.length; offset += 16_384) req.write(bytes.subarray(offset, offset + 16_384));
    req.end();
  });
}

async function normalBatch() {
  const res = await fetch(`${server.origin}/v1/batch`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: BATCH,
  });
  return { status: res.status, body: await res.text() };
}

describe("an oversized chunked body", () => {
  for (const [label, size] of [
    ["300 KB", 300_000],
    ["5 MB", 5_000_000],
  ] as const) {
    it(`${label}: 413 problem naming MAX_BODY_BYTES, and the next batch answers 200`, async () => {
      // A JSON string that is valid up to the limit: the refusal is about size, not syntax.
      const bytes = Buffer.from(`{"steps":[],"pad":"${"a".repeat(size)}"}`);
      for (let round = 0; round < 2; round++) {
        const refused = await postChunked("/v1/batch", bytes);
        expect(refused.status).toBe(413);
        expect(refused.contentType).toContain("application/problem+json");
        expect(JSON.parse(refused.body)).toMatchObject({ code: "payload_too_large", detail: expect.stringContaining("MAX_BODY_BYTES") });

        const next = await normalBatch();
        expect(next.status, next.body).toBe(200);
        expect(JSON.parse(next.body)).toMatchObject({ results: { w: { ok: true } } });
      }
    });
  }

  it("a chunked body under the limit is still read whole", async () => {
    const res = await postChunked("/v1/batch", Buffer.from(BATCH));
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ results: { w: { ok: true } } });
  });
});
