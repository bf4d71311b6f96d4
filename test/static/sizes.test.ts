import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * Files readable in one sitting: no source file in lib/ or functions/ over MAX_FILE_LINES lines, and
 * no function in lib/ over MAX_FUNCTION_LINES (from its first line to its closing brace, nested
 * functions counted in their parent too).
 */

const MAX_FILE_LINES = 300;
const MAX_FUNCTION_LINES = 60;
const root = new URL("../..", import.meta.url).pathname;

function sourcesUnder(folder: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, encoding: "utf8" })
    .filter((name) => /\.(ts|js|mjs)$/.test(name) && !name.endsWith(".d.ts"))
    .map((name) => join(root, folder, name));
}

const lineCount = (text: string) => text.split("\n").length - (text.endsWith("\n") ? 1 : 0);

/** Every function-like node of a file with its first line and its length in lines. */
function functionsOf(file: string): Array<{ name: string; line: number; lines: number }> {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const found: Array<{ name: string; line: number; lines: number }> = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const name = "name" in node && node.name ? node.name.getText(source) : "(anonymous)";
      found.push({ name, line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe("sizes", () => {
  it(`no source file in lib/ or functions/ is over ${MAX_FILE_LINES} lines`, () => {
    const long = [...sourcesUnder("lib"), ...sourcesUnder("functions")]
      .map((file) => ({ file: relative(root, file), lines: lineCount(readFileSync(file, "utf8")) }))
      .filter(({ lines }) => lines > MAX_FILE_LINES)
      .map(({ file, lines }) => `${file}: ${lines} lines`);
    expect(long).toEqual([]);
  });

  it(`no function in lib/ is over ${MAX_FUNCTION_LINES} lines`, () => {
    const long = sourcesUnder("lib").flatMap((file) =>
      functionsOf(file)
        .filter(({ lines }) => lines > MAX_FUNCTION_LINES)
        .map(({ name, line, lines }) => `${relative(root, file)}:${line} ${name}: ${lines} lines`),
    );
    expect(long).toEqual([]);
  });
});
