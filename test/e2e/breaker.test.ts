import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "./server";

/**
 * The circuit breaker as deployed: `npm start` with its default settings (5 consecutive failures
 * within 10 s open an origin's circuit for 30 s) in front of an upstream that answers 503 to
 * everything and counts what reaches it.
 */

const PORT = 8811;
const FAULT_PORT = 8812;
const FAULT = `http://127.0.0.1:${FAULT_PORT}`;
const KEY = "fanout-local-demo-key";

let server: RunningServer;
let fault: Server;
let faultHits = 0;

beforeAll(async () => {
  fault = createServer((_req, res) => {
    faultHits++;
    res.writeHead(503, { "content-type": "application/json" });
    res.end('{"error":"down"}');
  });
  await new Promise<void>((resolve) => fault.listen(FAULT_PORT, "127.0.0.1", resolve));
  server = await startServer(PORT, { extraAllowed: [FAULT] });
});

afterAll(async () => {
  await server?.stop();
  await new Promise<void>((resolve) => (fault ? fault.close(() => resolve()) : resolve()));
});

interface Result {
  ok: boolean;
  error?: { code: string; message: string };
}

async function batch(steps: Array<{ id: string; url: string }>): Promise<Record<string, Result>> {
  const res = await fetch(`${server.origin}/v1/batch`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ concurrency: 1, steps: steps.map(({ id, url }) => ({ id, http: { url } })) }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { results: Record<string, Result> }).results;
}

describe("a failing upstream behind npm start", () => {
  it("stops receiving calls after 5 failures; later steps fail circuit_open", async () => {
    const codes: string[] = [];
    for (let round = 0; round < 4; round++) {
      const steps = [0, 1, 2].map((i) => ({ id: `s${i}`, url: `${FAULT}/items/${round}-${i}` }));
      const results = await batch(steps);
      codes.push(...steps.map(({ id }) => results[id]!.error?.code ?? "ok"));
    }
    expect(codes).toEqual([...Array(5).fill("http_status"), ...Array(7).fill("circuit_open")]);
    expect(faultHits).toBe(5);
  });

  it("says why, and pauses only that origin", async () => {
    const results = await batch([
      { id: "fault", url: `${FAULT}/again` },
      { id: "local", url: `http://127.0.0.1:${PORT}/v1/sim/delay/1` },
      { id: "sim", url: "/v1/sim/delay/1" },
    ]);
    expect(results.fault!.error).toEqual({
      code: "circuit_open",
      message: expect.stringMatching(/^calls to http:\/\/127\.0\.0\.1:8812 are paused after 5 consecutive failures; next trial in ~\d+ s$/),
    });
    expect(results.local).toMatchObject({ ok: true });
    expect(results.sim).toMatchObject({ ok: true });
    expect(faultHits).toBe(5);
  });
});
