import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { type ParseError, parse as parseJsonc, printParseErrorCode } from "jsonc-parser";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { type CodeBlock, githubSlug, isExternal, type MarkdownFile, readMarkdown } from "./markdown";

/**
 * Every README in the repository stays true to the tree it sits in: each relative link reaches a file
 * (and its #anchor a heading there, as GitHub numbers them), each ```json block parses (```jsonc may
 * have comments and trailing commas) and each ```ts block compiles against the repository's own types.
 * A TypeScript block that genuinely cannot compile alone says so on its first line,
 * `// fragment: <why>`, and is skipped. A block whose first line names its file (`// my-client/hc.ts`)
 * is compiled as that file beside the README (the marker may then follow on the second line).
 */

const root = new URL("../..", import.meta.url).pathname;
const FRAGMENT = /^\s*\/\/\s*fragment:(.*)$/;
const FILE_NAME = /^\/\/ ([\w.-]+(?:\/[\w.-]+)*\.tsx?)\s*$/;

/** The READMEs git knows of or would add (tracked, or new and not ignored), as repository paths. */
function readmePaths(): string[] {
  const listed = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "--", "*README.md"], {
    cwd: root,
    encoding: "utf8",
  });
  return [...new Set(listed.split("\n").filter(Boolean))].filter((path) => existsSync(join(root, path))).sort();
}

const parsed = new Map<string, MarkdownFile>();
/** A repository file read as Markdown, once. */
function markdownAt(path: string): MarkdownFile {
  const known = parsed.get(path);
  if (known) return known;
  const file = readMarkdown(readFileSync(join(root, path), "utf8"));
  parsed.set(path, file);
  return file;
}

/** The links of `readme` that lead nowhere: a missing file, or an anchor no heading of the target has. */
function brokenLinks(readme: string, file: MarkdownFile, read = markdownAt): string[] {
  const problems: string[] = [];
  for (const { target, line } of file.links) {
    if (isExternal(target)) continue;
    const [rawPath = "", anchor] = target.split("#", 2);
    const path =
      rawPath === "" ? readme : relative(root, join(rawPath.startsWith("/") ? root : join(root, dirname(readme)), decodeURI(rawPath)));
    const where = `${readme}:${line} (${target})`;
    if (path.startsWith("..") || !existsSync(join(root, path))) {
      problems.push(`${where}: no such file ${path}`);
    } else if (anchor !== undefined) {
      const isMarkdown = path.endsWith(".md") && statSync(join(root, path)).isFile();
      const anchors = isMarkdown ? (path === readme ? file.anchors : read(path).anchors) : undefined;
      if (anchors ? !anchors.has(anchor) : !/^L\d+(-L\d+)?$/.test(anchor)) problems.push(`${where}: no heading #${anchor} in ${path}`);
    }
  }
  return problems;
}

/** The ```json blocks that JSON.parse refuses and the ```jsonc blocks jsonc-parser finds errors in. */
function brokenJson(readme: string, blocks: CodeBlock[]): string[] {
  const problems: string[] = [];
  for (const block of blocks) {
    if (block.lang === "json") {
      try {
        JSON.parse(block.text);
      } catch (error) {
        problems.push(`${readme}:${block.line}: ${(error as Error).message}`);
      }
    } else if (block.lang === "jsonc") {
      const errors: ParseError[] = [];
      parseJsonc(block.text, errors, { allowTrailingComma: true, disallowComments: false });
      const lineOf = (offset: number) => block.line + block.text.slice(0, offset).split("\n").length - 1;
      for (const error of errors) problems.push(`${readme}:${lineOf(error.offset)}: ${printParseErrorCode(error.error)}`);
    }
  }
  return problems;
}

/** A TypeScript block to compile: its README, line and text, as a module file beside the README (so relative imports resolve there). */
interface TsBlock {
  readme: string;
  line: number;
  text: string;
  fileName: string;
}

/** A README's ```ts / ```typescript blocks: those to compile, and the fragments (skipped), each `README:line: why`. */
function tsBlocks(readme: string, blocks: CodeBlock[]): { compile: TsBlock[]; fragments: string[] } {
  const compile: TsBlock[] = [];
  const fragments: string[] = [];
  for (const block of blocks.filter(({ lang }) => lang === "ts" || lang === "typescript")) {
    const [first = "", second = ""] = block.text.split("\n");
    const named = FILE_NAME.exec(first)?.[1];
    const fragment = FRAGMENT.exec(first) ?? (named ? FRAGMENT.exec(second) : null);
    const fileName = join(root, dirname(readme), named ?? `${basename(readme, ".md")}.block-${block.line}.ts`);
    if (fragment) fragments.push(`${readme}:${block.line}: ${fragment[1]!.trim()}`);
    else compile.push({ ...block, readme, fileName });
  }
  return { compile, fragments };
}

/**
 * The tsconfig a README's code compiles under: the Worker's beside lib/ and functions/, and a Node
 * caller's (no Worker globals) everywhere else, the top-level README's clients included.
 */
function configFor(readme: string): string {
  return /^(lib|functions)\//.test(readme) ? "tsconfig.json" : "tsconfig.node.json";
}

/** Type-checks blocks under one tsconfig in one program; each block is a module of its own. */
function typeErrorsUnder(config: string, blocks: TsBlock[]): string[] {
  const read = ts.readConfigFile(join(root, config), ts.sys.readFile);
  const { options, fileNames } = ts.parseJsonConfigFileContent(read.config, ts.sys, root);
  const compilerOptions = { ...options, noEmit: true, moduleDetection: ts.ModuleDetectionKind.Force };
  const virtual = new Map(blocks.map((block) => [block.fileName, block]));
  const host = ts.createCompilerHost(compilerOptions);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (name) => virtual.has(name) || fileExists.call(host, name);
  host.readFile = (name) => virtual.get(name)?.text ?? readFile.call(host, name);
  host.getSourceFile = (name, language, ...rest) => {
    const block = virtual.get(name);
    return block ? ts.createSourceFile(name, block.text, language) : getSourceFile.call(host, name, language, ...rest);
  };
  // Global declarations the config includes (worker-configuration.d.ts), not the sources: imports bring those.
  const globals = fileNames.filter((name) => name.endsWith(".d.ts"));
  const program = ts.createProgram([...virtual.keys(), ...globals], compilerOptions, host);
  return blocks.flatMap((block) => {
    const source = program.getSourceFile(block.fileName)!;
    return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map((diagnostic) => {
      const line = source.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line;
      return `${block.readme}:${block.line + line} TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, " ")}`;
    });
  });
}

/** Every type error of the given blocks, each as README:line. */
function typeErrors(blocks: TsBlock[]): string[] {
  const configs = [...new Set(blocks.map((block) => configFor(block.readme)))];
  return configs.flatMap((config) =>
    typeErrorsUnder(
      config,
      blocks.filter((block) => configFor(block.readme) === config),
    ),
  );
}

const readmes = readmePaths();

describe("every README in the repository", () => {
  it("is found, new ones included", () => {
    expect(readmes).toContain("README.md");
    expect(readmes).toContain("lib/README.md");
  });

  it("README.md leads: at most 400 lines, a table of contents linking every section", () => {
    const text = readFileSync(join(root, "README.md"), "utf8");
    expect(text.trimEnd().split("\n").length).toBeLessThanOrEqual(400);
    const sections = [...text.matchAll(/^## (.+)$/gm)].map(([, title]) => title!).filter((title) => title !== "Contents");
    const contents = text.slice(text.indexOf("## Contents"), text.indexOf("\n## ", text.indexOf("## Contents") + 1));
    expect(sections.length).toBeGreaterThan(5);
    for (const title of sections) expect(contents, title).toContain(`(#${githubSlug(title)})`);
  });

  it.each(readmes)("%s: every relative link reaches a file, and every #anchor a heading there", (readme) => {
    expect(brokenLinks(readme, markdownAt(readme))).toEqual([]);
  });

  it.each(readmes)("%s: every ```json block parses (```jsonc: with comments and trailing commas)", (readme) => {
    expect(brokenJson(readme, markdownAt(readme).blocks)).toEqual([]);
  });

  it("every ```ts block compiles against the repository's types (and a wrong one would not)", () => {
    const blocks = readmes.flatMap((readme) => tsBlocks(readme, markdownAt(readme).blocks).compile);
    expect(blocks.length).toBeGreaterThan(0);
    // A wrong block beside them, in the same programs: the check must see it, or it sees nothing.
    const wrong = { lang: "ts", line: 1, text: 'export const steps: number = "three";\n' };
    const canary = (readme: string) => tsBlocks(readme, [wrong]).compile;
    const errors = typeErrors([...blocks, ...canary("README.md"), ...canary("lib/README.md")]);
    expect(errors.filter((error) => !/^(README\.md|lib\/README\.md):1 /.test(error))).toEqual([]);
    expect(errors.filter((error) => error.includes("TS2322"))).toHaveLength(2);
  }, 120_000);

  it("marks a ```ts block a fragment rarely, and always says why", () => {
    const fragments = readmes.flatMap((readme) => tsBlocks(readme, markdownAt(readme).blocks).fragments);
    // A fragment is a block no one checks: a few at most, each with its reason (ten characters or more).
    expect(fragments.length, fragments.join("\n")).toBeLessThanOrEqual(3);
    for (const fragment of fragments) expect(fragment).toMatch(/:\d+: .{10,}$/);
  });
});

describe("the README checks", () => {
  const markdown = [
    "# Title",
    "## Set up",
    "See [set up](#set-up), [lib](lib/README.md), [its layers](lib/README.md#lib-everything-but-http) and <https://example.com>.",
    "[gone](no/such/file.md), [lost](#nowhere), [wrong](lib/README.md#no-such-heading), `[code](not/a/link.md)`.",
    "```json",
    '{ "a": 1, }',
    "```",
    "```jsonc",
    '{ "a": 1, // comments are fine here',
    "}",
    "```",
    "```jsonc",
    '{ "a": 1 "b": 2 }',
    "```",
    "```ts",
    "// fragment: why",
    "```",
  ].join("\n");
  const file = readMarkdown(markdown);

  it("name a missing file, a missing anchor here and one in another README, and nothing else", () => {
    expect(brokenLinks("README.md", file)).toEqual([
      "README.md:4 (no/such/file.md): no such file no/such/file.md",
      "README.md:4 (#nowhere): no heading #nowhere in README.md",
      "README.md:4 (lib/README.md#no-such-heading): no heading #no-such-heading in lib/README.md",
    ]);
  });

  it("refuse a trailing comma in ```json and a syntax error in ```jsonc, not a comment", () => {
    const problems = brokenJson("README.md", file.blocks);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^README\.md:6: /);
    expect(problems[1]).toBe("README.md:13: CommaExpected");
  });

  it("skip a fragment, with the reason it gives; a named block is compiled as its file", () => {
    expect(tsBlocks("README.md", file.blocks)).toEqual({ compile: [], fragments: ["README.md:16: why"] });
    const named = (text: string) => tsBlocks("lib/README.md", [{ lang: "ts", line: 9, text }]);
    expect(named("// my-client/hc.ts\n// fragment: needs the generated types\n")).toEqual({
      compile: [],
      fragments: ["lib/README.md:9: needs the generated types"],
    });
    expect(named("// my-client/hc.ts\nexport {};\n").compile[0]!.fileName).toBe(join(root, "lib/my-client/hc.ts"));
  });
});
