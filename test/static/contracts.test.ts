import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ROUTES } from "../../functions/http/access";
import { STEP_ERROR_CODES } from "../../lib/base/errors";
import { DEFAULT_SUBREQUEST_BUDGET } from "../../lib/base/limits";

/** The README states each contract as the code declares it. */
const README = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("the README", () => {
  it("lists exactly the step error codes of lib/base/errors.ts", () => {
    const paragraph = README.split("Step error codes:")[1]!.split("`Server-Timing`")[0]!;
    const listed = [...paragraph.matchAll(/`([a-z_]+)`/g)].map((match) => match[1]);
    expect(new Set(listed)).toEqual(new Set(STEP_ERROR_CODES));
  });

  it("states SUBREQUEST_BUDGET's default as lib/base/limits.ts declares it", () => {
    expect(README).toContain(`| \`SUBREQUEST_BUDGET\` | \`${DEFAULT_SUBREQUEST_BUDGET}\` |`);
    expect(README).toContain(`\`SUBREQUEST_BUDGET\` (${DEFAULT_SUBREQUEST_BUDGET},`);
  });

  it("says who may call each route as functions/http/access.ts declares it", () => {
    const table = README.split("| route | who may call | what it does |")[1]!.split("\n\n")[0]!;
    const WORDS = { public: "public", apiKey: "API key", admin: "admin key" } as const;
    const rows = new Map<string, string>();
    for (const [, routes, access] of table.matchAll(/^\| (.+?) \| (.+?) \|/gm)) {
      for (const [, route] of routes!.matchAll(/`([A-Z]+ [^`?]+)[^`]*`/g)) rows.set(route!, access!);
    }
    for (const [key, rule] of Object.entries(ROUTES)) {
      expect(rows.get(key), key).toBe(`${WORDS[rule.access]}${"demo" in rule && rule.demo ? ", demo" : ""}`);
    }
  });
});
