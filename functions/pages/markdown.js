/**
 * The API reference's Markdown, inline only: `code`, **bold**, [links](url) and line breaks, as
 * tokens the page turns into DOM nodes (text stays text: nothing is ever parsed as HTML). A link
 * whose target is not http(s), a path on this server or a fragment is kept as its text alone. The
 * page inlines this function's own source (functions/pages/docs-page.ts), so it is self-contained.
 *
 * @typedef {{ text: string } | { code: string } | { strong: MarkdownToken[] } | { link: string, href: string } | { br: true }} MarkdownToken
 * @param {unknown} source a description from the OpenAPI document
 * @returns {MarkdownToken[]}
 */
export function markdownInline(source) {
  const pattern = /`([^`\n]+)`|\*\*(.+?)\*\*|\[([^\]\n]+)\]\(([^()\s]+)\)|\n/g;
  const safe = /^(https?:\/\/|#|\.{1,2}\/|\/(?!\/))/i;
  /** @type {(text: string, inBold: boolean) => MarkdownToken[]} */
  const parse = (text, inBold) => {
    /** @type {MarkdownToken[]} */
    const tokens = [];
    let at = 0;
    for (const match of text.matchAll(pattern)) {
      if (match.index > at) tokens.push({ text: text.slice(at, match.index) });
      at = match.index + match[0].length;
      if (match[1] !== undefined) tokens.push({ code: match[1] });
      else if (match[2] !== undefined) tokens.push(inBold ? { text: match[2] } : { strong: parse(match[2], true) });
      else if (match[3] !== undefined) tokens.push(safe.test(match[4]) ? { link: match[3], href: match[4] } : { text: match[3] });
      else tokens.push({ br: true });
    }
    if (at < text.length) tokens.push({ text: text.slice(at) });
    return tokens;
  };
  return parse(typeof source === "string" ? source : "", false);
}
