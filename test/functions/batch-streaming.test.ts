import { describe, expect, it } from "vitest";
import { postBatch } from "./batch-helpers";

const steps = [
  { id: "slow", wait: { ms: 1000 } },
  { id: "fast", wait: { ms: 10 } },
];

async function readLines(res: Response, onLine: (line: string, atMs: number) => void, started: number) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += value;
    for (let newline = buffer.indexOf("\n"); newline >= 0; newline = buffer.indexOf("\n")) {
      onLine(buffer.slice(0, newline), Date.now() - started);
      buffer = buffer.slice(newline + 1);
    }
  }
}

describe("streamed batches", () => {
  it("NDJSON: the 10 ms step's line arrives before the 1000 ms step settles, then a summary", async () => {
    const started = Date.now();
    const res = await postBatch({ steps }, { accept: "application/x-ndjson" });
    expect(res.headers.get("content-type")).toContain("application/x-ndjson");
    expect(res.headers.get("content-encoding")).toBe("identity");
    const lines: Array<{ line: Record<string, unknown>; atMs: number }> = [];
    await readLines(res, (line, atMs) => lines.push({ line: JSON.parse(line) as Record<string, unknown>, atMs }), started);
    expect(lines.map(({ line }) => [line.type, line.id])).toEqual([
      ["result", "fast"],
      ["result", "slow"],
      ["summary", undefined],
    ]);
    expect(lines[0]!.atMs).toBeLessThan(700);
    expect(lines[1]!.atMs).toBeGreaterThanOrEqual(950);
    expect(lines[0]!.line).toMatchObject({ ok: true, body: { waitedMs: 10 } });
    expect(lines[2]!.line).toMatchObject({ completed: true, counts: { ok: 2 } });
  });

  it("SSE: result events as steps settle, then a summary event", async () => {
    const started = Date.now();
    const res = await postBatch({ steps }, { accept: "text/event-stream" });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const events: Array<{ event: string; data: Record<string, unknown>; atMs: number }> = [];
    let current: { event?: string; data?: string } = {};
    await readLines(
      res,
      (line, atMs) => {
        if (line.startsWith("event: ")) current.event = line.slice(7);
        else if (line.startsWith("data: ")) current.data = line.slice(6);
        else if (line === "" && current.event) {
          events.push({ event: current.event, data: JSON.parse(current.data!) as Record<string, unknown>, atMs });
          current = {};
        }
      },
      started,
    );
    expect(events.map(({ event, data }) => [event, data.id])).toEqual([
      ["result", "fast"],
      ["result", "slow"],
      ["summary", undefined],
    ]);
    expect(events[0]!.atMs).toBeLessThan(700);
  });

  it("a plain JSON client still gets one JSON document", async () => {
    const res = await postBatch({ steps }, { accept: "application/json" });
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(((await res.json()) as { counts: { ok: number } }).counts.ok).toBe(2);
  });
});
