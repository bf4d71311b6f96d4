import { FanoutError } from "../base/errors";
import type { LocatedReference, Reference } from "./template";
import { parseReference } from "./template";

/**
 * A step's `when`: a small expression over earlier steps' results (`user.status`, `user.body.plan`)
 * and, in a composite, the request's `params`, `query` and `headers`. Comparisons (== != < <= > >=),
 * `in` a literal list, `exists` a path, `and` / `or` / `not`, parentheses and JSON literals; nothing
 * else: no calls, no loops, nothing that runs code. A hand-written recursive-descent parser, linear
 * in the text, held to MAX_CONDITION_CHARS and MAX_CONDITION_DEPTH. Evaluation is condition-eval.ts.
 *
 *   condition := and ("or" and)*
 *   and       := not ("and" not)*
 *   not       := "not" not | "(" condition ")" | "exists" path | operand [compare operand | "in" list]
 *   operand   := path | "string" | number | true | false | null        list := "[" [literal ("," literal)*] "]"
 *
 * A path is a reference as `{{...}}` writes it, without the braces (template.ts's grammar, `[*]` aside);
 * a word that reads as a JSON number (`200`, `-1.5`) is that number.
 */

/** The longest `when`, in characters. */
export const MAX_CONDITION_CHARS = 1000;
/** How deep parentheses and `not` may nest in one `when`. */
export const MAX_CONDITION_DEPTH = 16;

export type Literal = string | number | boolean | null;
export type Operand = { literal: Literal } | { path: Reference };
export const COMPARISONS = ["==", "!=", "<", "<=", ">", ">="] as const;
export type Comparison = (typeof COMPARISONS)[number];

export type Condition =
  | { op: "and"; of: Condition[] }
  | { op: "or"; of: Condition[] }
  | { op: "not"; of: Condition }
  | { op: Comparison; left: Operand; right: Operand }
  | { op: "in"; value: Operand; list: Literal[] }
  | { op: "exists"; path: Reference }
  /** An operand on its own: true only when it is the boolean `true`. */
  | { op: "is"; value: Operand };

/** A `when` that does not parse or is over a limit: `validation_failed`, with the 1-based character it stands at. */
export class ConditionError extends FanoutError {
  readonly position: number;

  constructor(position: number, why: string) {
    super("validation_failed", `at character ${position}: ${why}`);
    this.position = position;
  }
}

interface Token {
  kind: "punct" | "compare" | "literal" | "word" | "end";
  text: string;
  /** 0-based offset in the condition. */
  at: number;
  value?: Literal;
}

const KEYWORDS = new Set(["and", "or", "not", "in", "exists"]);
const LITERAL_WORDS: ReadonlyMap<string, Literal> = new Map([
  ["true", true],
  ["false", false],
  ["null", null],
]);
// Sticky scanners, each a single pass without nested quantifiers: tokenizing is linear.
const COMPARE = /==|!=|<=|>=|<|>/y;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ROOT = /[A-Za-z0-9_-]+/y;
const SEGMENT = /\.[A-Za-z0-9_$-]+|\[(?:\d+|\*)\]/y;
const WORD_CHAR = /[A-Za-z0-9_$.[-]/;
const MISTAKES: Readonly<Record<string, string>> = { "=": "compare with ==", "!": "negate with not", "&": "write and", "|": "write or" };

function stickyMatch(pattern: RegExp, text: string, at: number): string | undefined {
  pattern.lastIndex = at;
  return pattern.exec(text)?.[0];
}

/** The end of the string literal that opens at `at` (the index after its closing quote). */
function stringEnd(text: string, at: number): number {
  for (let i = at + 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"') return i + 1;
  }
  throw new ConditionError(at + 1, "a string that is never closed");
}

function literalToken(text: string, at: number, end: number, parse: (raw: string) => Literal): Token {
  const raw = text.slice(at, end);
  let value: Literal;
  try {
    value = parse(raw);
  } catch {
    throw new ConditionError(at + 1, `${raw.slice(0, 40)} is not a valid JSON string`);
  }
  if (typeof value === "number" && !Number.isFinite(value)) throw new ConditionError(at + 1, `${raw} is out of range`);
  return { kind: "literal", text: raw, at, value: value === 0 ? 0 : value };
}

/** The token at `at` (not whitespace). */
function nextToken(text: string, at: number): Token {
  const char = text[at]!;
  if ("()[],".includes(char)) return { kind: "punct", text: char, at };
  const compare = stickyMatch(COMPARE, text, at);
  if (compare) return { kind: "compare", text: compare, at };
  if (char === '"') return literalToken(text, at, stringEnd(text, at), (raw) => JSON.parse(raw) as string);
  const number = stickyMatch(NUMBER, text, at);
  if (number && !WORD_CHAR.test(text[at + number.length] ?? " ")) return literalToken(text, at, at + number.length, Number);
  const root = stickyMatch(ROOT, text, at);
  if (!root) throw new ConditionError(at + 1, `unexpected "${char}"${MISTAKES[char] ? ` (${MISTAKES[char]})` : ""}`);
  let end = at + root.length;
  // `in[1, 2]`: a keyword is never a path's root followed by [n] (a step reference goes on with .status, .headers or .body).
  if (KEYWORDS.has(root) && text[end] === "[") return { kind: "word", text: root, at };
  for (let segment = stickyMatch(SEGMENT, text, end); segment; segment = stickyMatch(SEGMENT, text, end)) end += segment.length;
  return { kind: "word", text: text.slice(at, end), at };
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < text.length) {
    if (" \t\r\n".includes(text[at]!)) {
      at++;
      continue;
    }
    const token = nextToken(text, at);
    tokens.push(token);
    at += token.text.length;
  }
  tokens.push({ kind: "end", text: "", at: text.length });
  return tokens;
}

const shown = (token: Token) => (token.kind === "end" ? "the end" : `"${token.text.slice(0, 40)}"`);

class Parser {
  readonly #tokens: Token[];
  #index = 0;
  #depth = 0;

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  parse(): Condition {
    const condition = this.#either();
    if (this.#peek().kind !== "end") this.#fail(`expected and, or or the end, found ${shown(this.#peek())}`);
    return condition;
  }

  #peek(): Token {
    return this.#tokens[this.#index]!;
  }

  #fail(why: string, token = this.#peek()): never {
    throw new ConditionError(token.at + 1, why);
  }

  /** Takes the next token when it is the word or punctuation `text`. */
  #take(text: string): boolean {
    const token = this.#peek();
    if ((token.kind !== "word" && token.kind !== "punct") || token.text !== text) return false;
    this.#index++;
    return true;
  }

  /** Parses inside the `not` or `(` just taken, one level deeper. */
  #nest<T>(parse: () => T): T {
    if (++this.#depth > MAX_CONDITION_DEPTH)
      this.#fail(`nested deeper than ${MAX_CONDITION_DEPTH} levels (MAX_CONDITION_DEPTH)`, this.#tokens[this.#index - 1]);
    const parsed = parse();
    this.#depth--;
    return parsed;
  }

  #either(): Condition {
    const of = [this.#both()];
    while (this.#take("or")) of.push(this.#both());
    return of.length === 1 ? of[0]! : { op: "or", of };
  }

  #both(): Condition {
    const of = [this.#unary()];
    while (this.#take("and")) of.push(this.#unary());
    return of.length === 1 ? of[0]! : { op: "and", of };
  }

  #unary(): Condition {
    if (this.#take("not")) return this.#nest(() => ({ op: "not", of: this.#unary() }));
    if (this.#take("(")) {
      const inner = this.#nest(() => this.#either());
      if (!this.#take(")")) this.#fail(`expected ")", found ${shown(this.#peek())}`);
      return inner;
    }
    if (this.#take("exists")) {
      const path = this.#operand();
      return "path" in path
        ? { op: "exists", path: path.path }
        : this.#fail("exists needs a path (exists user.body.id)", this.#tokens[this.#index - 1]);
    }
    const left = this.#operand();
    const next = this.#peek();
    if (next.kind === "compare") {
      this.#index++;
      return { op: next.text as Comparison, left, right: this.#operand() };
    }
    if (this.#take("in")) return { op: "in", value: left, list: this.#list() };
    return { op: "is", value: left };
  }

  #operand(): Operand {
    const token = this.#peek();
    if (token.kind === "literal") {
      this.#index++;
      return { literal: token.value! };
    }
    if (token.kind !== "word" || KEYWORDS.has(token.text)) this.#fail(`expected a value, found ${shown(token)}`);
    this.#index++;
    if (LITERAL_WORDS.has(token.text)) return { literal: LITERAL_WORDS.get(token.text)! };
    return { path: pathOf(token) };
  }

  #list(): Literal[] {
    if (!this.#take("[")) this.#fail(`in needs a list of literals ([1, 2] or ["a", "b"]), found ${shown(this.#peek())}`);
    const list: Literal[] = [];
    if (this.#take("]")) return list;
    do {
      const item = this.#operand();
      if (!("literal" in item)) this.#fail("a list holds literals only", this.#tokens[this.#index - 1]);
      list.push(item.literal);
    } while (this.#take(","));
    if (!this.#take("]")) this.#fail(`expected "," or "]", found ${shown(this.#peek())}`);
    return list;
  }
}

function pathOf(token: Token): Reference {
  if (!/[.[]/.test(token.text))
    throw new ConditionError(
      token.at + 1,
      `"${token.text.slice(0, 40)}" is not a value: write a path (user.body.plan, query.include), a "string", a number, true, false or null`,
    );
  if (token.text.includes("[*]")) throw new ConditionError(token.at + 1, "[*] is not allowed in when: compare single values");
  try {
    return parseReference(token.text);
  } catch (error) {
    throw new ConditionError(token.at + 1, `invalid path "${token.text.slice(0, 80)}": ${(error as Error).message}`);
  }
}

/**
 * Parses a `when`.
 * @throws ConditionError (a FanoutError, `validation_failed`) naming the character where it goes wrong,
 * for a syntax error, a condition longer than MAX_CONDITION_CHARS or nested deeper than MAX_CONDITION_DEPTH.
 */
export function parseCondition(text: string): Condition {
  if (text.length > MAX_CONDITION_CHARS)
    throw new ConditionError(MAX_CONDITION_CHARS + 1, `longer than ${MAX_CONDITION_CHARS} characters (MAX_CONDITION_CHARS)`);
  if (text.trim() === "") throw new ConditionError(1, "an empty condition");
  return new Parser(tokenize(text)).parse();
}

/** Every path a condition reads, in order, located at `at` (`steps[2].when`). */
export function conditionPaths(condition: Condition, at: string): LocatedReference[] {
  const paths: LocatedReference[] = [];
  const operand = (value: Operand) => {
    if ("path" in value) paths.push({ ...value.path, at });
  };
  const visit = (node: Condition): void => {
    if (node.op === "and" || node.op === "or") node.of.forEach(visit);
    else if (node.op === "not") visit(node.of);
    else if (node.op === "exists") operand({ path: node.path });
    else if (node.op === "in" || node.op === "is") operand(node.value);
    else {
      operand(node.left);
      operand(node.right);
    }
  };
  visit(condition);
  return paths;
}

/** The paths a `when` reads, located at `at`; none when there is no `when` or it does not parse (the plan reports that). */
export function conditionPathsOf(text: string | undefined, at: string): LocatedReference[] {
  if (text === undefined) return [];
  try {
    return conditionPaths(parseCondition(text), at);
  } catch (error) {
    if (error instanceof ConditionError) return [];
    throw error;
  }
}
