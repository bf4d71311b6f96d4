import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parse as parseJsonc } from "jsonc-parser";
import { afterAll, describe, expect, it } from "vitest";

/**
 * `npm run check -- [file] [--env-file F]` as CI runs it: the shipped composites pass with one ok line
 * each (against wrangler.toml + local.env); every problem is one line `file:line:col composites.<name>.<field>:
 * reason` (a misspelt name with the nearest valid one), including what fails only against the
 * configuration (an unknown D1 query, an upstream off the allow-list); a file that does not parse is one
 * line per syntax error; exit 1 on any problem, 2 on a usage error, never a stack trace.
 */

const ROOT = join(dirname(new URL(import.meta.url).pathname), "../..");
const FIXTURES = "test/fixtures/composites";
const scratch = mkdtempSync(join(tmpdir(), "fanout-check-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function check(...args: string[]) {
  const run = spawnSync("npm", ["run", "--silent", "check", "--", ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  const output = `${run.stdout}${run.stderr}`;
  return { status: run.status, lines: run.stdout.split("\n").filter(Boolean), stderr: run.stderr, output };
}

let files = 0;
function write(name: string, text: string): string {
  const path = join(scratch, `${files++}-${name}`);
  writeFileSync(path, text);
  return path;
}

/** A line of `lines` at `file:line:col` (the column any) that says all of `parts`. */
function lineAt(lines: string[], file: string, line: number, ...parts: string[]): string | undefined {
  return lines.find((text) => text.startsWith(`${file}:${line}:`) && parts.every((part) => text.includes(part)));
}

describe("npm run check", () => {
  it("passes the shipped functions/composites.jsonc (comments and all) with one ok line per composite", () => {
    const { status, lines, output } = check();
    expect(status, output).toBe(0);
    const shipped = parseJsonc(readFileSync(join(ROOT, "functions/composites.jsonc"), "utf8")) as { composites: object };
    const names = Object.keys(shipped.composites);
    expect(lines.filter((line) => line.startsWith("ok "))).toHaveLength(names.length);
    for (const name of names) expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ok +${name}: GET /`)));
    expect(lines.at(-1)).toBe(`${names.length} composites OK (checked against wrangler.toml [vars] + local.env)`);
  });

  it("fails an unknown D1 query and an upstream off the allow-list (exit 1), each at its file and line, with the nearest query", () => {
    const file = `${FIXTURES}/misfit.jsonc`;
    const { status, lines, output } = check(file);
    expect(status, output).toBe(1);
    expect(
      lineAt(
        lines,
        file,
        12,
        'composites.profile.steps[0].d1.query: no named query "userByld" (D1_QUERIES: userById, ordersByUser); did you mean `userById`?',
      ),
      output,
    ).toBeDefined();
    expect(
      lineAt(
        lines,
        file,
        14,
        "composites.profile.steps[1].http.url: https://orders.example.org is not on the upstream allow-list (UPSTREAM_ALLOWLIST)",
      ),
      output,
    ).toBeDefined();
    // Each reason as the runtime words it, once (not a suffix the check adds again).
    expect(output).toMatch(/is not on the upstream allow-list \(UPSTREAM_ALLOWLIST\)\n/);
    expect(lines).toContainEqual(expect.stringMatching(/^ok +fine: GET \/v1\/c\/fine /));
    expect(lines).not.toContainEqual(expect.stringMatching(/^ok +profile/));
    expect(output).not.toMatch(/\n\s+at /);
    expect(lines.at(-1)).toBe("2 invalid, 1 OK (checked against wrangler.toml [vars] + local.env)");
  });

  it("suggests the nearest key, step and param for a misspelt one", () => {
    const file = `${FIXTURES}/misfit.jsonc`;
    const { lines, output } = check(file);
    expect(
      lineAt(lines, file, 22, 'composites.typos.steps[0].requird: unknown key "requird"; did you mean `required`?'),
      output,
    ).toBeDefined();
    expect(
      lineAt(lines, file, 23, 'composites.typos.steps[1].dependsOn[0]: unknown step "usr"; did you mean `user`?'),
      output,
    ).toBeDefined();
    expect(
      lineAt(lines, file, 24, 'composites.typos.steps[2].http.url: {{params.usr}}: no param "usr" is declared; did you mean `user`?'),
      output,
    ).toBeDefined();
  });

  it("checks against the env file given: with the allow-list and query it names, the same composite passes", () => {
    const envFile = write(
      "ok.env",
      [
        'UPSTREAM_ALLOWLIST="orders.example.org"',
        `D1_QUERIES='{"userByld":"SELECT id FROM users WHERE id = ?1"}'`,
        'API_KEYS="k:0123456789abcdef0123"',
      ].join("\n"),
    );
    const file = write(
      "profile.jsonc",
      JSON.stringify({
        composites: {
          profile: {
            path: "profile",
            auth: "apiKey",
            params: { user: { in: "query", type: "integer", required: true } },
            steps: [
              { id: "user", d1: { query: "userByld", params: ["{{params.user}}"] } },
              { id: "orders", http: { url: "https://orders.example.org/users/{{params.user}}" } },
            ],
          },
        },
      }),
    );
    const { status, lines, output } = check(file, "--env-file", envFile);
    expect(status, output).toBe(0);
    expect(lines.at(-1)).toBe(`1 composite OK (checked against wrangler.toml [vars] + ${envFile})`);
    // Without it, local.env has neither.
    expect(check(file).status).toBe(1);
  });

  it("a file that does not parse: one line per syntax error at its file, line and column (exit 1)", () => {
    const file = `${FIXTURES}/syntax-error.jsonc`;
    const { status, lines, output } = check(file);
    expect(status, output).toBe(1);
    expect(lines).toEqual([`${file}:9:7: syntax error: expected a comma (,)`, `${file} does not load: no composite would be served`]);
  });

  it("schema problems of a composite are placed too; a bad top level names its field", () => {
    const file = write(
      "bad.jsonc",
      [
        "{",
        '  "composites": {',
        '    "reserved": { "path": "reserved", "auth": "none",',
        '      "params": { "debug": { "type": "boolean" } },',
        '      "steps": [{ "id": "a", "wait": { "ms": 0 } }] }',
        "  }",
        "}",
      ].join("\n"),
    );
    const { status, lines, output } = check(file);
    expect(status, output).toBe(1);
    expect(lineAt(lines, file, 4, "composites.reserved.params.debug: debug is reserved")).toBeDefined();
    const top = write("top.jsonc", '{\n  "prefix": "nope",\n  "composites": {}\n}');
    const topRun = check(top);
    expect(topRun.status).toBe(1);
    expect(topRun.lines[0]).toBe(`${top}:2:3 prefix: a path that starts and ends with /`);
  });

  it("a missing file or env file is one line (exit 1); an unknown argument one usage line (exit 2)", () => {
    const missing = join(scratch, "nope.jsonc");
    expect(check(missing)).toMatchObject({ status: 1, lines: [], stderr: `${missing}: no such file\n` });
    expect(check("--env-file", join(scratch, "nope.env")).status).toBe(1);
    const unknown = check("--envfile", "x.env");
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^check: unknown argument "--envfile"; usage: npm run check -- /);
    expect(check("a.jsonc", "b.jsonc").status).toBe(2);
  });
});
