import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ROUTES } from "../../functions/http/access";
import { STEP_ERROR_CODES } from "../../lib/base/errors";
import { DEFAULT_SUBREQUEST_BUDGET } from "../../lib/base/limits";

/**
 * The READMEs state each contract as the code declares it: the top-level one, and the references beside the code.
 * Tables are read cell by cell, whatever their padding (Biome aligns the columns of the READMEs it formats).
 */
const readme = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
const README = readme("README.md");
const BATCH_README = readme("lib/batch/README.md");
const FUNCTIONS_README = readme("functions/README.md");

describe("the READMEs", () => {
  it("list exactly the step error codes of lib/base/errors.ts (lib/batch/README.md)", () => {
    const paragraph = BATCH_README.split("Step error codes:")[1]!.split("`Server-Timing`")[0]!;
    const listed = [...paragraph.matchAll(/`([a-z_]+)`/g)].map((match) => match[1]);
    expect(new Set(listed)).toEqual(new Set(STEP_ERROR_CODES));
  });

  it("state SUBREQUEST_BUDGET's default as lib/base/limits.ts declares it (README.md, lib/batch/README.md)", () => {
    expect(README).toMatch(new RegExp(`^\\| *\`SUBREQUEST_BUDGET\` *\\| *\`${DEFAULT_SUBREQUEST_BUDGET}\` *\\|`, "m"));
    expect(BATCH_README).toContain(`\`SUBREQUEST_BUDGET\` (${DEFAULT_SUBREQUEST_BUDGET},`);
  });

  it("say who may call each route as functions/http/access.ts declares it (functions/README.md)", () => {
    const table = FUNCTIONS_README.split(/^\| *route *\| *who may call *\| *what it does *\|$/m)[1]!.split("\n\n")[0]!;
    const WORDS = { public: "public", apiKey: "API key", admin: "admin key" } as const;
    const rows = new Map<string, string>();
    for (const [, routes, access] of table.matchAll(/^\| (.+?) +\| (.+?) +\|/gm)) {
      for (const [, route] of routes!.matchAll(/`([A-Z]+ [^`?]+)[^`]*`/g)) rows.set(route!, access!.trim());
    }
    for (const [key, rule] of Object.entries(ROUTES)) {
      expect(rows.get(key), key).toBe(`${WORDS[rule.access]}${"demo" in rule && rule.demo ? ", demo" : ""}`);
    }
  });
});
