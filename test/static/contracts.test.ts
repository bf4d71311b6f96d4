import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { STEP_ERROR_CODES } from "../../lib/base/errors";

/** The README states each contract as the code declares it. */
const README = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("the README", () => {
  it("lists exactly the step error codes of lib/base/errors.ts", () => {
    const paragraph = README.split("Step error codes:")[1]!.split("`Server-Timing`")[0]!;
    const listed = [...paragraph.matchAll(/`([a-z_]+)`/g)].map((match) => match[1]);
    expect(new Set(listed)).toEqual(new Set(STEP_ERROR_CODES));
  });
});
