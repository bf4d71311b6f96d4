import { findNodeAtLocation, getNodeValue, type Node, type ParseError, parseTree, printParseErrorCode } from "jsonc-parser";
import { type CompositeCatalog, loadComposites } from "./catalog";

/**
 * The composites file as the Worker reads it: text, parsed as JSONC (JSON with comments and trailing
 * commas, by Microsoft's jsonc-parser, VS Code's), then validated by the catalog. Nothing here throws:
 * a file that does not parse (or whose top level is invalid) yields no composites and says why, at
 * `file:line:col`; the gateway keeps serving every other route. Every problem can be placed in the
 * file: `locate` finds a composite's field in the parse tree.
 */

/** A problem with the file as a whole, at its position (`functions/composites.jsonc:12:5`). */
export interface SourceError {
  at: string;
  /** The top-level field it is about (`prefix`), or "" for a syntax error. */
  field: string;
  reason: string;
}

/** Where a catalog was read from. */
export interface CatalogSource {
  file: string;
  /** Why the file yields no composites at all: its syntax errors, or an invalid top level. Empty when it loads. */
  errors: SourceError[];
  /**
   * `file:line:col` of a field of a composite (`steps[0].d1.query`; "" for the composite itself), or of a
   * top-level field without a composite: the field's key, or the nearest enclosing field that exists.
   */
  locate(composite: string | undefined, field: string): string;
  /** A composite's declaration as written (a broken one's too), read from the parse tree. */
  declaration(composite: string): unknown;
}

export interface SourcedCatalog extends CompositeCatalog {
  source: CatalogSource;
}

/** jsonc-parser's error codes, as a reader would say them. */
const SYNTAX: Record<string, string> = {
  InvalidSymbol: "unexpected character",
  InvalidNumberFormat: "not a valid number",
  PropertyNameExpected: "expected a property name in double quotes",
  ValueExpected: "expected a value",
  ColonExpected: "expected a colon (:)",
  CommaExpected: "expected a comma (,)",
  CloseBraceExpected: "expected a closing brace (})",
  CloseBracketExpected: "expected a closing bracket (])",
  EndOfFileExpected: "expected the end of the file",
  InvalidCommentToken: "not a valid comment",
  UnexpectedEndOfComment: "a /* comment that is never closed",
  UnexpectedEndOfString: "a string that is never closed",
  UnexpectedEndOfNumber: "a number that ends too early",
  InvalidUnicode: "not a valid \\u escape",
  InvalidEscapeCharacter: "not a valid escape character",
  InvalidCharacter: "a character that is not allowed in a string (a control character or a line break)",
};

const syntaxReason = (error: ParseError) => {
  const code = printParseErrorCode(error.error);
  return `syntax error: ${SYNTAX[code] ?? code}`;
};

/** 1-based line and column of every offset of `text`, from the offsets where its lines start. */
function positions(text: string): (offset: number) => { line: number; column: number } {
  const starts = [0];
  for (let index = text.indexOf("\n"); index >= 0; index = text.indexOf("\n", index + 1)) starts.push(index + 1);
  return (offset) => {
    let [low, high] = [0, starts.length - 1];
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (starts[middle]! <= offset) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, column: offset - starts[low]! + 1 };
  };
}

/** The segments of a field name: `steps[0].d1.query` -> ["steps", 0, "d1", "query"]. */
export function fieldSegments(field: string): Array<string | number> {
  return [...field.matchAll(/\[(\d+)\]|([^.[\]]+)/g)].map(([, index, key]) => (index === undefined ? key! : Number(index)));
}

/**
 * The node a path reaches, or the deepest one on the way that exists. A key that itself holds dots
 * (`rename: { "a.b": ... }`) is found by joining the segments that follow it.
 */
function nodeAt(root: Node, segments: ReadonlyArray<string | number>): Node {
  let node = root;
  for (let index = 0; index < segments.length; index++) {
    let next = findNodeAtLocation(node, [segments[index]!]);
    for (let end = index + 1; next === undefined && end < segments.length && typeof segments[end] === "string"; end++) {
      const joined = segments.slice(index, end + 1).join(".");
      next = findNodeAtLocation(node, [joined]);
      if (next !== undefined) index = end;
    }
    if (next === undefined) return node;
    node = next;
  }
  return node;
}

/**
 * Keys written twice in one object, each at its second writing: JSON keeps only the last, so the
 * first would be silently ignored (two composites of one name, a step's field set twice).
 */
function duplicateKeys(root: Node): Array<{ offset: number; key: string; firstOffset: number }> {
  const found: Array<{ offset: number; key: string; firstOffset: number }> = [];
  const visit = (node: Node) => {
    if (node.type === "object") {
      const seen = new Map<string, number>();
      for (const property of node.children ?? []) {
        const keyNode = property.children?.[0];
        if (keyNode === undefined) continue;
        const key = String(keyNode.value);
        const first = seen.get(key);
        if (first === undefined) seen.set(key, property.offset);
        else found.push({ offset: property.offset, key, firstOffset: first });
      }
    }
    for (const child of node.children ?? []) visit(child);
  };
  visit(root);
  return found;
}

/** Where a node is written: a property's value is placed at its key. */
const startOf = (node: Node) => (node.parent?.type === "property" ? node.parent.offset : node.offset);

/** The prefix the file asks for when that much of it is readable (so its paths answer 503, not 404), else the default. */
function prefixOf(value: unknown): string {
  const prefix = (value as { prefix?: unknown } | null)?.prefix;
  return loadComposites({ ...(typeof prefix === "string" ? { prefix } : {}), composites: {} }).prefix;
}

/**
 * Reads the composites file: JSONC text (`file` names it in every message) into a catalog. A syntax
 * error or an invalid top level yields no composites and `source.errors`; otherwise each composite is
 * served or broken on its own, as `loadComposites` decides.
 */
export function loadCompositesFile(text: string, file: string): SourcedCatalog {
  // A byte-order mark becomes a space: offsets, and so lines and columns, stay the text's own.
  const syntax: ParseError[] = [];
  const tree = parseTree(text.replace(/^\uFEFF/, " "), syntax, { allowTrailingComma: true, disallowComments: false });
  const position = positions(text);
  const at = (offset: number) => {
    const { line, column } = position(offset);
    return `${file}:${line}:${column}`;
  };
  const locate = (composite: string | undefined, field: string) => {
    if (tree === undefined) return at(0);
    const segments = [...(composite === undefined ? [] : ["composites", composite]), ...fieldSegments(field)];
    return at(startOf(nodeAt(tree, segments)));
  };
  const declaration = (composite: string) => {
    const node = tree && findNodeAtLocation(tree, ["composites", composite]);
    return node && getNodeValue(node);
  };
  const value: unknown = tree === undefined ? undefined : getNodeValue(tree);
  if (syntax.length > 0 || tree === undefined) {
    // jsonc-parser may report one error twice at one place.
    const seen = new Set<string>();
    const errors = syntax
      .map((error) => ({ at: at(error.offset), field: "", reason: syntaxReason(error) }))
      .filter((error) => !seen.has(`${error.at} ${error.reason}`) && seen.add(`${error.at} ${error.reason}`));
    if (errors.length === 0) errors.push({ at: at(0), field: "", reason: "syntax error: expected a value" });
    return { prefix: prefixOf(value), composites: [], broken: [], source: { file, errors, locate, declaration } };
  }
  const duplicates = duplicateKeys(tree);
  if (duplicates.length > 0) {
    const errors = duplicates.map(({ offset, key, firstOffset }) => {
      const first = position(firstOffset);
      return {
        at: at(offset),
        field: "",
        reason: `duplicate key "${key}" (first at line ${first.line}, column ${first.column}): JSON keeps only one of them`,
      };
    });
    return { prefix: prefixOf(value), composites: [], broken: [], source: { file, errors, locate, declaration } };
  }
  const catalog = loadComposites(value);
  const [first] = catalog.broken;
  const declared = (value as { composites?: unknown } | null)?.composites;
  const topLevel =
    catalog.composites.length === 0 &&
    catalog.broken.length === 1 &&
    first?.name === "(file)" &&
    !(typeof declared === "object" && declared !== null && "(file)" in declared);
  if (!topLevel) return { ...catalog, source: { file, errors: [], locate, declaration } };
  const errors = first.problems.map(({ name, reason }) => ({ at: locate(undefined, name), field: name, reason }));
  return { ...catalog, broken: [], source: { file, errors, locate, declaration } };
}
