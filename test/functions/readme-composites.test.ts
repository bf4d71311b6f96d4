import { describe, expect, it } from "vitest";
import { loadCompositesFile } from "../../lib/composite/source";

/**
 * The READMEs' composites files are real files: every ```json / ```jsonc block that declares
 * `"composites"` is loaded as it is written (comments included) by the Worker's own loader, inside workerd, with no
 * syntax error and no broken composite, so it can be pasted into functions/composites.jsonc. (Whether
 * it fits a deployment, its upstreams on the allow-list for one, is `npm run check`'s, per deployment.)
 */

/** Every README's text by its path (the top-level one and those beside the code; never node_modules). */
const READMES: Record<string, string> = import.meta.glob(
  ["../../README.md", "../../lib/**/README.md", "../../functions/**/README.md", "../../test/**/README.md"],
  { query: "?raw", import: "default", eager: true },
);

/** Each fenced json/jsonc block that declares composites, with the README line its text starts on. */
function compositesBlocks(markdown: string): Array<{ line: number; text: string }> {
  const blocks: Array<{ line: number; text: string }> = [];
  for (const match of markdown.matchAll(/^```jsonc?[ \t]*\n([\s\S]*?)^```[ \t]*$/gm)) {
    const line = markdown.slice(0, match.index).split("\n").length + 1;
    if (/"composites"\s*:/.test(match[1]!)) blocks.push({ line, text: match[1]! });
  }
  return blocks;
}

const blocks = Object.entries(READMES).flatMap(([path, markdown]) =>
  compositesBlocks(markdown).map((block) => ({ ...block, readme: path.replace("../../", "") })),
);

describe("the READMEs' composites files", () => {
  it("finds them (README.md and lib/composite/README.md show some)", () => {
    const readmes = new Set(blocks.map((block) => block.readme));
    expect(readmes).toContain("README.md");
    expect(readmes).toContain("lib/composite/README.md");
  });

  it.each(blocks.map((block) => [block.readme, block.line, block.text] as const))("%s:%i loads as it is written", (readme, line, text) => {
    const catalog = loadCompositesFile(text, `${readme} block at line ${line}`);
    expect(catalog.source.errors).toEqual([]);
    expect(catalog.broken).toEqual([]);
    expect(catalog.composites.length).toBeGreaterThan(0);
  });

  it("a block with a syntax error would be caught (the finder and the loader on a broken copy)", () => {
    const [first] = blocks;
    const broken = first!.text.replace(/\}\s*$/, "\n"); // the last brace gone, the line kept
    expect(compositesBlocks(`\`\`\`jsonc\n${broken}\`\`\`\n`)).toHaveLength(1);
    expect(loadCompositesFile(broken, "x").source.errors.length).toBeGreaterThan(0);
  });
});
