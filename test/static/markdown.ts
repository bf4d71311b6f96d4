/**
 * What the README checks need of a Markdown file: its fenced code blocks, its relative links and the
 * anchors its headings get on GitHub. A small reader of our own, not a full CommonMark parser: the
 * READMEs use ATX headings, inline links and ``` / ~~~ fences, and that is what it reads.
 */

/** A fenced code block: its info string's first word (`json`, `ts`), its text and the line its text starts on. */
export interface CodeBlock {
  lang: string;
  text: string;
  line: number;
}

/** A link target as written (`lib/README.md#layers`, `#set-up`) and the line it is on. */
export interface Link {
  target: string;
  line: number;
}

/** A Markdown file read once: its blocks, its links and its headings' anchors. */
export interface MarkdownFile {
  blocks: CodeBlock[];
  links: Link[];
  anchors: Set<string>;
}

const FENCE = /^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)/;

/** Splits a file into its code blocks and its prose (code blocks blanked, so line numbers still hold). */
function splitFences(markdown: string): { blocks: CodeBlock[]; prose: string[] } {
  const blocks: CodeBlock[] = [];
  const prose: string[] = [];
  let open: { indent: number; fence: string; lang: string; line: number; lines: string[] } | undefined;
  markdown.split("\n").forEach((text, index) => {
    const fence = FENCE.exec(text);
    if (!open && fence) {
      open = { indent: fence[1]!.length, fence: fence[2]!, lang: fence[3]!.toLowerCase(), line: index + 2, lines: [] };
      prose.push("");
    } else if (open && fence && fence[2]!.startsWith(open.fence) && !fence[3]) {
      blocks.push({ lang: open.lang, text: open.lines.map((line) => `${line}\n`).join(""), line: open.line });
      open = undefined;
      prose.push("");
    } else if (open) {
      // A block indented under a list item: its lines carry the fence's indentation, which is not code.
      open.lines.push(text.replace(new RegExp(`^ {0,${open.indent}}`), ""));
      prose.push("");
    } else {
      prose.push(text);
    }
  });
  return { blocks, prose };
}

/**
 * GitHub's anchor for a heading (what github-slugger does to the heading's text): lower-cased, every
 * character that is not a letter, a digit, a space, `-` or `_` dropped, each space a `-`.
 */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // a link or image counts by its text
    .replace(/<[^>]+>/g, "") // inline HTML
    .replace(/`/g, "");
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** Every heading's anchor, numbered as GitHub numbers repeated ones (`a`, `a-1`, `a-2`), plus explicit `<a id>`/`name`. */
function anchorsOf(prose: string[]): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of prose) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const slug = githubSlug(heading[1]!);
      const count = seen.get(slug) ?? 0;
      seen.set(slug, count + 1);
      anchors.add(count === 0 ? slug : `${slug}-${count}`);
    }
    for (const html of line.matchAll(/<a\s[^>]*\b(?:id|name)="([^"]+)"/g)) anchors.add(html[1]!);
  }
  return anchors;
}

/** Every link and image target in the prose (inline `[text](target)` and `[label]: target` definitions). */
function linksOf(prose: string[]): Link[] {
  // Code spans never hold links; blanking them (same length) keeps positions and line numbers.
  const text = prose.join("\n").replace(/(`+)[^`]*?\1/g, (span) => span.replace(/[^\n]/g, " "));
  const lineAt = (offset: number) => text.slice(0, offset).split("\n").length;
  const links: Link[] = [];
  for (const match of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    links.push({ target: match[1]!, line: lineAt(match.index) });
  }
  for (const match of text.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)) {
    links.push({ target: match[1]!, line: lineAt(match.index) });
  }
  return links;
}

/** Reads a Markdown file's blocks, links and anchors. */
export function readMarkdown(markdown: string): MarkdownFile {
  const { blocks, prose } = splitFences(markdown);
  return { blocks, links: linksOf(prose), anchors: anchorsOf(prose) };
}

/** Whether a link leaves the repository (a scheme such as `https:` or `mailto:`, or `//host`). */
export function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//");
}
