import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ownPorts } from "./server";

/**
 * `npm start` as a newcomer runs and stops it (test/check/start.mjs): one line per seeding stage before
 * `wrangler dev` serves; on a port that is taken, one clear line and exit 1 before anything is seeded; and
 * SIGTERM to the npm process stops wrangler and workerd, leaving the port free. It seeds a fresh state
 * directory (`npm start -- --persist-to DIR`), as on a fresh clone.
 */

const ROOT = new URL("../..", import.meta.url).pathname;
const PORT = 8841;
const KEY = "fanout-local-demo-key";

interface Run {
  child: ChildProcess;
  output: () => string;
  /** The exit code, or the signal that ended npm. */
  exited: Promise<number | string>;
}

/** `npm start -- <args>` on PORT, as a user runs it: the tests signal the npm process only. */
function npmStart(args: string[]): Run {
  let output = "";
  const child = spawn("npm", ["start", "--", ...args], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(PORT), NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? "?")));
  return { child, output: () => output, exited };
}

/** Whether a server could listen on `port` on 127.0.0.1 right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

/** What the script printed, without npm's own `> fanout@... start` header and blank lines. */
const ownLines = (output: string) => output.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("> "));

const stateDirs: string[] = [];
const freshStateDir = () => {
  const dir = join(mkdtempSync(join(tmpdir(), "fanout-start-")), "state");
  stateDirs.push(dir);
  return dir;
};

let server: Run;

beforeAll(async () => {
  expect(await portFree(PORT), `port ${PORT} must be free for this test`).toBe(true);
  server = npmStart(ownPorts(PORT, freshStateDir()));
  const started = Date.now();
  while (Date.now() - started < 150_000) {
    const ended = await Promise.race([server.exited, new Promise((resolve) => setTimeout(() => resolve(undefined), 300))]);
    if (ended !== undefined) throw new Error(`npm start exited with ${ended}:\n${server.output()}`);
    const healthy = await fetch(`http://localhost:${PORT}/healthz`).then(
      (res) => res.ok,
      () => false,
    );
    if (healthy) return;
  }
  throw new Error(`npm start did not serve /healthz within 150 s:\n${server.output()}`);
});

afterAll(async () => {
  // Only if a test failed before its SIGTERM: the npm process goes, and with it (SIGTERM) wrangler.
  if (server && server.child.exitCode === null && server.child.signalCode === null) {
    server.child.kill("SIGTERM");
    await server.exited;
  }
  for (const dir of stateDirs) rmSync(join(dir, ".."), { recursive: true, force: true });
});

describe("npm start", () => {
  it("prints a line per seeding stage, then serves what it seeded", async () => {
    const lines = ownLines(server.output());
    const migrations = readdirSync(join(ROOT, "lib/d1/migrations")).filter((name) => name.endsWith(".sql")).length;
    const kvKeys = (JSON.parse(readFileSync(join(ROOT, "test/fixtures/seed/kv.json"), "utf8")) as unknown[]).length;
    const avatarBytes = statSync(join(ROOT, "test/fixtures/seed/avatar.png")).size;
    const expected = [
      new RegExp(`^port ${PORT} is free; seeding the local D1 database, KV namespace and R2 bucket in .+/state$`),
      new RegExp(`^seed 1/4  D1 migrations: ${migrations} applied, 0 already \\(lib/d1/migrations, \\d+\\.\\d s\\)$`),
      /^seed 2\/4 {2}D1 rows: \d+ statements from test\/fixtures\/seed\/d1\.sql \(\d+\.\d s\)$/,
      new RegExp(`^seed 3/4  KV: ${kvKeys} keys from test/fixtures/seed/kv\\.json \\(\\d+\\.\\d s\\)$`),
      new RegExp(`^seed 4/4  R2: fanout-assets/avatars/1\\.png \\(${avatarBytes} bytes, image/png, \\d+\\.\\d s\\)$`),
      new RegExp(`^seeded in \\d+\\.\\d s; starting wrangler dev on http://localhost:${PORT}$`),
      new RegExp(`Ready on http://localhost:${PORT}`),
    ];
    const at = expected.map((pattern) => lines.findIndex((line) => pattern.test(line)));
    expect(
      at.every((index) => index >= 0),
      `every stage line, in\n${lines.join("\n")}`,
    ).toBe(true);
    expect(at, "in order").toEqual([...at].sort((a, b) => a - b));
    // Before wrangler dev: only those lines.
    expect(at.slice(0, 6)).toEqual([0, 1, 2, 3, 4, 5]);

    const res = await fetch(`http://localhost:${PORT}/v1/batch`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({
        steps: [
          { id: "user", d1: { query: "userById", params: [1] } },
          { id: "greeting", kv: { key: "greeting" } },
          { id: "avatar", r2: { key: "avatars/1.png", head: true } },
        ],
      }),
    });
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: Record<string, { ok: boolean; body?: unknown }> };
    expect(results.user).toMatchObject({ ok: true, body: [{ id: 1, name: "Ada Lovelace" }] });
    expect(results.greeting).toMatchObject({ ok: true, body: "hello from local KV" });
    expect(results.avatar).toMatchObject({ ok: true });
  });

  it("on a port that is taken: one clear line and exit 1, before anything is seeded", async () => {
    const stateDir = freshStateDir();
    const second = npmStart(ownPorts(PORT, stateDir));
    expect(await second.exited).toBe(1);
    expect(ownLines(second.output())).toEqual([
      `npm start: port ${PORT} is already in use (another npm start or wrangler dev?); stop it, or start on another: PORT=${PORT + 1} npm start`,
    ]);
    expect(existsSync(stateDir)).toBe(false);
    // The first one still serves.
    expect((await fetch(`http://localhost:${PORT}/healthz`)).status).toBe(200);
  });

  it("SIGTERM to the npm process stops wrangler and workerd: the port is free again", async () => {
    server.child.kill("SIGTERM");
    const code = await server.exited;
    let free = await portFree(PORT);
    // The port is released as the processes exit; allow the kernel a moment.
    for (let waited = 0; !free && waited < 2_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      free = await portFree(PORT);
    }
    expect(free, `port ${PORT} after npm exited (${code}):\n${server.output()}`).toBe(true);
    await expect(fetch(`http://localhost:${PORT}/healthz`)).rejects.toThrow();
  });
});
