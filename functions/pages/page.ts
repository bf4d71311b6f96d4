/**
 * The pages are real files (`*.html`, `*.css`, `*.js`): the HTML and CSS are bundled as text
 * (wrangler.toml's Text rule), and each page's script is a self-contained function bundled and
 * minified with the Worker, inlined by its own source. This fills a page's placeholders: `$NAME` in
 * an attribute, `/*$NAME*\/` as the content of a `<style>` or `<script>` (a comment there, so the
 * file stays valid HTML, CSS and JS for the linter).
 */

/** Replaces each placeholder in the template once; inserted values are not scanned again. */
export function fillPage(template: string, values: Record<string, string>): string {
  return template.replace(
    /\/\*\$([A-Z]+)\*\/|\$([A-Z]+)/g,
    (whole, inComment?: string, inAttribute?: string) => values[inComment ?? inAttribute ?? ""] ?? whole,
  );
}

/** JSON for inside a `<script>`: `<` escaped, so no value can close the element. */
export const scriptJson = (value: unknown): string => JSON.stringify(value).replaceAll("<", "\\u003c");

/** A self-contained function as an expression of its own source: `(function ...)`, to pass to another. */
export const inlineSource = (fn: (...args: never[]) => unknown): string => `(${fn.toString()})`;

/** A call of a self-contained function by its own source: `(function ...)(arg, ...)`. */
export const inlineCall = (fn: (...args: never[]) => unknown, ...args: string[]): string => `${inlineSource(fn)}(${args.join(", ")})`;

/** A stylesheet as the page sends it: the file's line breaks and indentation left out. */
export const compactCss = (css: string): string => css.replace(/\n\s*/g, "");
