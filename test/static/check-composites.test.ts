import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * `npm run check [file]` as CI runs it: the bundled composites pass with one ok line each; a file
 * with a bad composite exits 1 and names the composite and the field of every problem, and the
 * good composites in it are still reported ok.
 */

const ROOT = join(dirname(new URL(import.meta.url).pathname), "../..");
const scratch = mkdtempSync(join(tmpdir(), "fanout-check-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function check(...args: string[]) {
  const run = spawnSync("npm", ["run", "--silent", "check", ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return { status: run.status, lines: run.stdout.split("\n").filter(Boolean), stderr: run.stderr };
}

describe("npm run check", () => {
  it("passes the bundled functions/composites.json with one ok line per composite", () => {
    const { status, lines, stderr } = check();
    expect(status, stderr).toBe(0);
    const names = Object.keys(JSON.parse(readFileSync(join(ROOT, "functions/composites.json"), "utf8")).composites as object);
    expect(lines.filter((line) => line.startsWith("ok "))).toHaveLength(names.length);
    for (const name of names) expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^ok +${name}: GET /`)));
    expect(lines.some((line) => line.startsWith("FAIL"))).toBe(false);
    expect(lines.at(-1)).toBe(`${names.length} composites OK`);
  });

  it("fails a file with bad composites (exit 1), naming each composite and field, and still reports the good one", () => {
    const file = join(scratch, "composites.json");
    writeFileSync(
      file,
      JSON.stringify({
        composites: {
          good: { path: "good", auth: "none", steps: [{ id: "a", wait: { ms: 0 } }] },
          reserved: { path: "reserved", auth: "none", params: { debug: { type: "boolean" } }, steps: [{ id: "a", wait: { ms: 0 } }] },
          secrets: {
            path: "secrets",
            auth: "none",
            headers: ["authorization"],
            steps: [{ id: "a", http: { url: "/v1/sim/status/200?x={{query.nope}}" } }],
          },
        },
      }),
    );
    const { status, lines, stderr } = check(file);
    expect(status, stderr).toBe(1);
    expect(lines).toContainEqual(expect.stringMatching(/^ok +good: GET \/v1\/c\/good /));
    expect(lines).toContain("FAIL  reserved:");
    expect(lines).toContainEqual(expect.stringMatching(/^ +composites\.reserved\.params\.debug: debug is reserved/));
    expect(lines).toContain("FAIL  secrets:");
    expect(lines).toContainEqual(expect.stringMatching(/^ +composites\.secrets\.headers\[0\]: this header is never visible to steps/));
    expect(lines).toContainEqual(
      expect.stringMatching(/^ +composites\.secrets\.steps\[0\]\.http\.url: \{\{query\.nope\}\}: no param "nope"/),
    );
    expect(lines.at(-1)).toBe("2 invalid, 1 OK");
  });

  it("fails a file whose top level is wrong (exit 1)", () => {
    const file = join(scratch, "top.json");
    writeFileSync(file, JSON.stringify({ prefix: "nope", composites: {} }));
    const { status, lines } = check(file);
    expect(status).toBe(1);
    expect(lines).toContain("FAIL  (file):");
    expect(lines).toContainEqual(expect.stringMatching(/^ +composites\.\(file\)\.prefix: /));
  });
});
