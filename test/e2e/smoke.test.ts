import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "./server";

/**
 * `npm run smoke -- <origin> [--key K]`, the check a team runs after `npm run deploy`, against `npm start`:
 * one line per check (healthz, a one-step batch, every composite in /openapi.json) with its status and
 * time, exit 0 when all pass. Without --key the batch is skipped and the apiKey composite answers 401,
 * a failure (exit 1); a host that cannot be reached, or that answers something other than fanout, is
 * reported in lines, never a stack trace.
 */

const ROOT = new URL("../..", import.meta.url).pathname;
const PORT = 8821;
let server: RunningServer;
let impostor: Server;

beforeAll(async () => {
  server = await startServer(PORT);
  // Something that is not fanout: HTML for every path.
  impostor = createServer((_, res) =>
    res.writeHead(200, { "content-type": "text/html" }).end("<html><body>Welcome to nginx!</body></html>"),
  );
  await new Promise<void>((resolve) => impostor.listen(0, "127.0.0.1", resolve));
});
afterAll(async () => {
  await server?.stop();
  await new Promise((resolve) => impostor?.close(resolve));
});

interface Run {
  status: number | null;
  lines: string[];
  output: string;
}

function smoke(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile("npm", ["run", "--silent", "smoke", "--", ...args], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      const status = error ? ((error as { code?: number }).code ?? null) : 0;
      resolve({ status, lines: `${stdout}${stderr}`.split("\n").filter(Boolean), output: `${stdout}${stderr}` });
    });
  });
}

/** The line of one check: `ok    name   200   12 ms  ...`. */
const checkLine = (run: Run, name: string) => run.lines.find((line) => new RegExp(`^(ok|FAIL|skip) +${name} `).test(line));

describe("npm run smoke", () => {
  it("passes against npm start with the demo key: healthz, the batch and every demo composite answer 200", async () => {
    const run = await smoke(server.origin, "--key", "fanout-local-demo-key");
    expect(run.status, run.output).toBe(0);
    for (const name of ["healthz", "batch", "composite home", "composite welcome", "composite product"]) {
      expect(checkLine(run, name), `${name} in\n${run.output}`).toMatch(new RegExp(`^ok +${name} +200 +\\d+ ms`));
    }
    expect(checkLine(run, "composite home")).toContain("GET /v1/c/home?user=1");
    expect(run.lines.at(-1)).toBe(`smoke: 5 passed, 0 failed (${server.origin})`);
  });

  it("without --key: the batch is skipped, the apiKey composite answers 401 (a failure, exit 1), the public one 200", async () => {
    const run = await smoke(server.origin);
    expect(run.status, run.output).toBe(1);
    expect(checkLine(run, "batch")).toMatch(/^skip +batch .*no --key/);
    expect(checkLine(run, "composite home")).toMatch(/^FAIL +composite home +401 +\d+ ms +unauthorized: .*no --key given/);
    expect(checkLine(run, "composite welcome")).toMatch(/^ok +composite welcome +200 /);
    expect(run.lines.at(-1)).toBe(`smoke: 3 passed, 1 failed, 1 skipped (${server.origin})`);
  });

  it("a wrong key fails the batch and the apiKey composite with the problem's code", async () => {
    const run = await smoke(server.origin, "--key", "not-a-key-of-this-deployment");
    expect(run.status).toBe(1);
    expect(checkLine(run, "batch")).toMatch(/^FAIL +batch +401 +\d+ ms +unauthorized: /);
    expect(checkLine(run, "composite home")).toMatch(/^FAIL +composite home +401 /);
  });

  it("a host that cannot be reached is one line (exit 1)", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const run = await smoke(`http://127.0.0.1:${port}`, "--key", "fanout-local-demo-key");
    expect(run.status).toBe(1);
    expect(run.lines).toEqual([`FAIL  healthz: http://127.0.0.1:${port} cannot be reached: connection refused (ECONNREFUSED)`]);
  });

  it("something other than fanout: each check one line saying it answered no JSON (exit 1)", async () => {
    const { port } = impostor.address() as AddressInfo;
    const run = await smoke(`http://127.0.0.1:${port}`, "--key", "k");
    expect(run.status).toBe(1);
    expect(checkLine(run, "healthz")).toMatch(/^FAIL +healthz +200 +\d+ ms +not JSON \(text\/html\): <html><body>Welcome to nginx!/);
    expect(checkLine(run, "batch")).toMatch(/^FAIL +batch +200 .*not JSON/);
    expect(checkLine(run, "openapi.json")).toMatch(/^FAIL +openapi\.json +200 .*not JSON/);
    expect(run.output).not.toMatch(/\n\s+at /);
  });

  it("usage errors exit 2 with one line", async () => {
    for (const args of [[], ["ftp://example.com"], ["not a url"], [server.origin, "--token", "x"]]) {
      const run = await smoke(...args);
      expect(run.status, args.join(" ")).toBe(2);
      expect(run.lines).toHaveLength(1);
      expect(run.lines[0]).toMatch(/^smoke: .*; usage: npm run smoke -- https:\/\/<host> /);
    }
  });
});
