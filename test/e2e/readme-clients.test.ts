import { exec } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "./server";

/**
 * The README's "Typed clients", exactly as printed: its files (each block's first line names it,
 * `// my-client/hc.ts`) are written to a folder inside the clone, as a newcomer's `my-client`, and its
 * `npx` commands run there against `npm start`: openapi-typescript writes the types from the served
 * document, tsc checks both programs with the caller's tsconfig (no Worker types) against the package
 * export `fanout/client`, and esbuild + Node run them. FANOUT_README reads another copy of the README.
 */

const PORT = 8851;
const root = new URL("../..", import.meta.url).pathname;
const readmePath = process.env.FANOUT_README ?? join(root, "README.md");
// Inside the clone, like the README's my-client: hono, openapi-fetch and the tools resolve from its node_modules.
const dir = join(root, "node_modules/.cache/fanout-readme-clients");
const run = promisify(exec);
let server: RunningServer;

interface Section {
  files: Array<{ name: string; text: string }>;
  commands: string[];
}

/** The section's files (blocks whose first line is `// my-client/<name>`) and its `npx` command lines. */
function typedClientsSection(): Section {
  const readme = readFileSync(readmePath, "utf8");
  const section = readme.split(/^## Typed clients$/m)[1]?.split(/^## /m)[0] ?? "";
  const blocks = [...section.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((match) => ({ lang: match[1]!, text: match[2]! }));
  const files = blocks.flatMap(({ text }) => {
    const name = /^\/\/ my-client\/(\S+)\n/.exec(text)?.[1];
    return name ? [{ name, text }] : [];
  });
  const commands = blocks
    .filter(({ lang }) => lang === "sh")
    .flatMap(({ text }) => text.split("\n"))
    .filter((line) => line.startsWith("npx "))
    .map((line) => line.replaceAll("127.0.0.1:8787", `127.0.0.1:${PORT}`));
  return { files, commands };
}

const section = typedClientsSection();
const withPort = (text: string) => text.replaceAll("127.0.0.1:8787", `127.0.0.1:${PORT}`);

beforeAll(async () => {
  server = await startServer(PORT);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const file of section.files) writeFileSync(join(dir, file.name), withPort(file.text));
}, 180_000);
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs one of the README's command lines in the client folder: its output, or the failure with both streams. */
async function runLine(line: string): Promise<string> {
  try {
    const { stdout } = await run(line, { cwd: dir, timeout: 120_000, maxBuffer: 16 << 20 });
    return stdout;
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    throw new Error(`${line} failed:\n${stdout}\n${stderr}`);
  }
}

describe("the README's typed clients, as printed", () => {
  it("has a tsconfig, an hc program, an openapi-fetch program and the commands to check and run them", () => {
    expect(section.files.map((file) => file.name).sort()).toEqual(["fetch.ts", "hc.ts", "tsconfig.json"]);
    expect(section.files.find((file) => file.name === "hc.ts")?.text).toContain('from "fanout/client"');
    // The caller's tsconfig has no Worker types: the package export must not need them.
    expect(section.files.find((file) => file.name === "tsconfig.json")?.text).toContain('"types": []');
    expect(section.commands.map((line) => line.split(" ").slice(0, 2).join(" "))).toEqual([
      "npx openapi-typescript",
      "npx tsc",
      "npx esbuild",
      "npx esbuild",
    ]);
  });

  it("generates the types, type-checks both programs and runs them against npm start", async () => {
    const [generate, check, ...programs] = section.commands;
    await runLine(generate!);
    // The generated types take the minimal batch as it is: no defaulted field (mode, http.method) is required.
    expect(readFileSync(join(dir, "fanout.d.ts"), "utf8")).toContain('"/v1/c/home"');
    await runLine(check!);
    for (const line of programs) {
      const printed = await runLine(line);
      expect(printed, line).toContain("batch completed: true");
      expect(printed, line).toContain("user: Ada Lovelace");
    }
  }, 300_000);
});
