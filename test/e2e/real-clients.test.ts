import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, noBrowser } from "./browser";
import { type RunningServer, startServer } from "./server";

/**
 * fanout as real clients call it: `npm start`, then curl, Node's fetch and headless Chromium. Each
 * sends Accept-Encoding: gzip, which makes the runtime compress (and so buffer) a response unless it
 * opts out; the streaming checks prove the first bytes arrive long before the last.
 */

const PORT = 8799;
const RECEIVER_PORT = 8798;
const run = promisify(execFile);
let server: RunningServer;

beforeAll(async () => {
  server = await startServer(PORT, { extraAllowed: [`http://127.0.0.1:${RECEIVER_PORT}`] });
});
afterAll(async () => {
  await server?.stop();
});

/** The README's quickstart lines: `curl ... # <status>`. */
function quickstartCommands(): Array<{ line: string; args: string[]; status: number }> {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.split("## Quickstart")[1]!.split("\n## ")[0]!;
  return [...section.matchAll(/^curl (.+?)\s+# (\d{3})$/gm)].map((match) => {
    const line = match[0];
    const args = [...match[1]!.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((arg) =>
      (arg[1] ?? arg[2] ?? arg[3]!).replaceAll("localhost:8787", `localhost:${PORT}`),
    );
    return { line, args, status: Number(match[2]) };
  });
}

describe("the README quickstart, run with curl", () => {
  const commands = quickstartCommands();

  it("lists the documented commands", () => {
    expect(commands.length).toBeGreaterThanOrEqual(14);
  });

  it.each(commands)("$line", async ({ args, status }) => {
    const { stdout } = await run("curl", [...args, "--compressed", "-o", "/dev/null", "-w", "%{http_code}"], { timeout: 30_000 });
    expect(Number(stdout)).toBe(status);
  });
});

/** Milliseconds from the request to the first chunk that contains `Start`, and to the end. */
interface StreamTiming {
  firstMs: number;
  endMs: number;
  text: string;
}

/** Reads a streamed body, noting when `arrived(text so far)` first holds and when the body ends. */
async function timeStream(res: Response, started: number, arrived: (text: string) => boolean): Promise<StreamTiming> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const timing: StreamTiming = { firstMs: -1, endMs: -1, text: "" };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    timing.text += value;
    if (timing.firstMs < 0 && arrived(timing.text)) timing.firstMs = performance.now() - started;
  }
  timing.endMs = performance.now() - started;
  return timing;
}

describe("a streamed body reaches a gzip-accepting client early", () => {
  const url = () => `${server.origin}/v1/examples/coroutine?ms=1500`;

  it("with Node's fetch", async () => {
    const started = performance.now();
    const res = await fetch(url(), { headers: { "accept-encoding": "gzip, deflate, br" } });
    expect(res.headers.get("content-encoding")).not.toBe("gzip");
    const timing = await timeStream(res, started, (text) => text.includes("Start"));
    expect(timing.text).toBe("Start\nEnd\n");
    expect(timing.firstMs).toBeLessThan(1000);
    expect(timing.endMs - timing.firstMs).toBeGreaterThanOrEqual(1000);
  });

  it("with curl --compressed", async () => {
    const timing = await new Promise<StreamTiming>((resolve, reject) => {
      const started = performance.now();
      const curl = spawn("curl", ["-sN", "--compressed", url()]);
      const result: StreamTiming = { firstMs: -1, endMs: -1, text: "" };
      curl.stdout.on("data", (chunk: Buffer) => {
        result.text += chunk.toString();
        if (result.firstMs < 0 && result.text.includes("Start")) result.firstMs = performance.now() - started;
      });
      curl.on("error", reject);
      curl.on("close", () => resolve({ ...result, endMs: performance.now() - started }));
    });
    expect(timing.text).toBe("Start\nEnd\n");
    expect(timing.firstMs).toBeLessThan(1000);
    expect(timing.endMs - timing.firstMs).toBeGreaterThanOrEqual(1000);
  });

  describe.skipIf(noBrowser)("with headless Chromium", { tags: ["browser"] }, () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
    });

    it("reads Start long before End with fetch() in a page", async () => {
      const page = await browser.newPage();
      await page.goto(`${server.origin}/healthz`);
      const timing = await page.evaluate(async (path) => {
        const started = performance.now();
        const res = await fetch(path);
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
        let text = "";
        let firstMs = -1;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          text += value;
          if (firstMs < 0 && text.includes("Start")) firstMs = performance.now() - started;
        }
        return { firstMs, endMs: performance.now() - started, text };
      }, "/v1/examples/coroutine?ms=1500");
      expect(timing.text).toBe("Start\nEnd\n");
      expect(timing.firstMs).toBeLessThan(1000);
      expect(timing.endMs - timing.firstMs).toBeGreaterThanOrEqual(1000);
    });

    it("shows the gather result as JSON in the browser", async () => {
      const page = await browser.newPage();
      const res = await page.goto(`${server.origin}/v1/examples/gather?k=10&ms=200`);
      expect(res?.status()).toBe(200);
      const body = JSON.parse((await page.textContent("body")) ?? "") as { concurrentMs: number; sequentialMs: number };
      expect(body.sequentialMs).toBe(2000);
      expect(body.concurrentMs).toBeLessThan(1000);
    });
  });
});

describe("a streamed batch reaches a gzip-accepting client early", () => {
  it("NDJSON lines arrive as steps settle, with Node's fetch", async () => {
    const started = performance.now();
    const res = await fetch(`${server.origin}/v1/batch`, {
      method: "POST",
      headers: {
        authorization: "Bearer fanout-local-demo-key",
        accept: "application/x-ndjson",
        "accept-encoding": "gzip, deflate, br",
        "content-type": "application/json",
      },
      body: JSON.stringify({
        steps: [
          { id: "slow", wait: { ms: 1500 } },
          { id: "fast", http: { url: "/v1/sim/delay/10" } },
        ],
      }),
    });
    expect(res.status).toBe(200);
    const { text, firstMs: firstLineMs, endMs } = await timeStream(res, started, (soFar) => soFar.includes("\n"));
    const lines = text
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { type: string; id?: string });
    expect(lines.map((line) => line.id ?? line.type)).toEqual(["fast", "slow", "summary"]);
    expect(firstLineMs).toBeLessThan(1000);
    expect(endMs - firstLineMs).toBeGreaterThanOrEqual(1000);
  });
});

describe("local storage is seeded by npm start", () => {
  it("the done-callback's record appears in local KV after the response", async () => {
    const keyed = { headers: { authorization: "Bearer fanout-local-demo-key" } };
    const res = await fetch(`${server.origin}/v1/examples/callback?ms=50`, keyed);
    expect(res.status).toBe(202);
    const { recordUrl } = (await res.json()) as { recordUrl: string };
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await fetch(recordUrl, keyed)).status;
    }
    expect(status).toBe(200);
  });
});

describe("the README's async example, end to end", () => {
  it("a 202 job's signed webhook reaches the local receiver, which verifies it", async () => {
    const receiver = spawn("node", ["test/fixtures/webhook-receiver.mjs", String(RECEIVER_PORT)], { stdio: ["ignore", "pipe", "pipe"] });
    let printed = "";
    receiver.stdout.on("data", (chunk: Buffer) => (printed += chunk.toString()));
    try {
      while (!printed.includes("listening")) await new Promise((resolve) => setTimeout(resolve, 50));
      const res = await fetch(`${server.origin}/v1/batch`, {
        method: "POST",
        headers: { authorization: "Bearer fanout-local-demo-key", "content-type": "application/json" },
        body: JSON.stringify({
          steps: [{ id: "a", http: { url: "/v1/sim/delay/50" } }],
          callback: { url: `http://127.0.0.1:${RECEIVER_PORT}/hook` },
        }),
      });
      expect(res.status).toBe(202);
      const { id, statusUrl } = (await res.json()) as { id: string; statusUrl: string };
      for (let i = 0; i < 100 && !printed.includes(`msg_${id}`); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      const line = printed.split("\n").find((text) => text.includes(`msg_${id}`));
      expect(line).toBeDefined();
      expect(JSON.parse(line!)).toMatchObject({
        verdict: "signature verified",
        answered: 200,
        body: { type: "batch.completed", data: { jobId: id, state: "succeeded" } },
      });
      const job = (await (await fetch(statusUrl, { headers: { authorization: "Bearer fanout-local-demo-key" } })).json()) as {
        state: string;
        callback: { state: string };
      };
      expect(job).toMatchObject({ state: "succeeded", callback: { state: "delivered" } });
    } finally {
      receiver.kill();
    }
  });
});
