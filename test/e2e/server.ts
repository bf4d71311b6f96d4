import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Runs `npm start` as a user would, on its own port, and stops the whole process group afterwards. */
export interface RunningServer {
  origin: string;
  port: number;
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * `extraVars` are passed as more `--var NAME:VALUE` flags (they win over local.env); `cwd` runs it in
 * another copy of the project (default: this one). Each server seeds and serves a state directory of its
 * own (`--persist-to`, removed when it stops), so the e2e files can run side by side.
 */
export async function startServer(
  port: number,
  {
    extraAllowed = [] as string[],
    extraVars = {} as Record<string, string>,
    timeoutMs = 150_000,
    cwd = undefined as string | undefined,
  } = {},
): Promise<RunningServer> {
  const vars = Object.entries(extraVars).flatMap(([name, value]) => ["--var", `${name}:${value}`]);
  const allowed = [`http://localhost:${port}`, `http://127.0.0.1:${port}`, ...extraAllowed].join(",");
  const state = stateDir();
  const args = ["npm", "start", "--", ...ownPorts(port, state), "--var", `UPSTREAM_ALLOWLIST:${allowed}`, ...vars];
  return serve("npm start", port, args, timeoutMs, cwd, state);
}

/**
 * `wrangler dev` as production is configured: the shipped wrangler.toml and only the vars and secrets
 * of `envFile` (no local.env, no seeding).
 */
export async function startProductionServer(port: number, envFile: string, { timeoutMs = 150_000 } = {}): Promise<RunningServer> {
  const state = stateDir();
  const args = ["npx", "wrangler", "dev", "--port", String(port), "--env-file", envFile, "--show-interactive-dev-session=false"];
  return serve("wrangler dev", port, [...args, ...ownPorts(port, state)], timeoutMs, undefined, state);
}

/** A fresh directory for one server's local D1, KV and R2. */
const stateDir = () => join(mkdtempSync(join(tmpdir(), "fanout-e2e-")), "state");

/**
 * What keeps servers started side by side apart: their state, and their inspector port (wrangler dev takes 9229 when
 * it is free, so two starting at once would both try it), here the server's port + 10000.
 */
export const ownPorts = (port: number, state: string) => ["--persist-to", state, "--inspector-port", String(port + 10_000)];

async function serve(
  name: string,
  port: number,
  [command, ...args]: string[],
  timeoutMs: number,
  cwd: string | undefined,
  state: string,
): Promise<RunningServer> {
  const origin = `http://localhost:${port}`;
  let output = "";
  const child: ChildProcess = spawn(command!, args, {
    cwd,
    env: { ...process.env, PORT: String(port), CI: "true", NO_COLOR: "1", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));

  const stop = async () => {
    if (child.exitCode === null && child.pid !== undefined) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      process.kill(-child.pid, "SIGTERM");
      const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(join(state, ".."), { recursive: true, force: true });
  };

  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`${name} exited with ${child.exitCode}:\n${output}`);
    }
    try {
      const res = await fetch(`${origin}/healthz`);
      if (res.ok) return { origin, port, output: () => output, stop };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await stop();
  throw new Error(`${name} did not serve ${origin}/healthz within ${timeoutMs} ms:\n${output}`);
}
