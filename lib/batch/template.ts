import { FanoutError } from "../base/errors";
import { listNames } from "../base/suggest";

/**
 * References between steps: `{{id.body.items[0].name}}`, `{{id.body[*].id}}`, `{{item}}`, `{{index}}`.
 * A string that is exactly one reference takes the referenced JSON value; a reference inside a
 * longer string is interpolated (URL-encoded where the caller asks, e.g. inside URLs).
 */

export type PathSegment = string | number | "*";

export interface Reference {
  /** The text between the braces, for messages. */
  text: string;
  /** A step id, or `item` / `index` inside a forEach step. */
  root: string;
  path: PathSegment[];
}

/** Where a reference was found, as a JSON path into the request (`steps[2].http.url`). */
export interface LocatedReference extends Reference {
  at: string;
}

export const SCOPE_NAMES = new Set(["item", "index"]);
/** Roots a composite binds from its validated request: `{{params.id}}`, `{{query.user}}`, `{{headers.accept-language}}`. */
export const INPUT_ROOTS: ReadonlySet<string> = new Set(["params", "query", "headers"]);
export const STEP_FIELDS = new Set(["status", "headers", "body"]);

// One character class between the braces (trimmed in code): no nested quantifiers, so a scan is
// linear even on hostile text such as "{{" followed by thousands of spaces.
const REFERENCE = /\{\{([^{}]*)\}\}/g;
// The step id (or input root) a reference starts with.
const ROOT = /^[A-Za-z0-9_-]{1,64}/;
const SEGMENT = /^(?:\.([A-Za-z0-9_$-]+)|\[(\d+|\*)\])/;

/**
 * The reference grammar as data, for code that cannot import this module (the playground's page
 * script gets it inlined): `reference` finds each `{{...}}` (group 1 is its inside, to trim), and
 * `root` the step id or input root that inside starts with.
 */
export const REFERENCE_GRAMMAR = { reference: REFERENCE.source, root: ROOT.source } as const;

/** How deep a JSON value in a request (a step body, a forEach item) may nest. */
export const MAX_JSON_DEPTH = 32;

/**
 * How deep a template the engine walks (requests are held to MAX_JSON_DEPTH before they get here;
 * this keeps the engine itself total for any input).
 */
const MAX_TEMPLATE_DEPTH = 256;

/**
 * The most characters one interpolated string may render to: a short template that repeats a
 * reference to a large value must not build a string of gigabytes.
 */
export const MAX_RENDERED_CHARS = 1_048_576;

function tooDeep(at: string): FanoutError {
  return new FanoutError("validation_failed", `${at || "the value"} is nested deeper than ${MAX_TEMPLATE_DEPTH} levels`);
}

/**
 * Whether `value` nests deeper than `maxDepth` levels (a scalar is depth 0, `[1]` is 1). Iterative,
 * so a hostile value cannot exhaust the stack while it is being measured.
 */
export function nestedDeeperThan(value: unknown, maxDepth: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (!current || typeof current !== "object") continue;
    if (depth + 1 > maxDepth) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Parses `id.a[0].b[*]`; throws a `validation_failed` FanoutError saying what is wrong. */
export function parseReference(text: string): Reference {
  const head = ROOT.exec(text);
  if (!head) throw new FanoutError("validation_failed", `"{{${text}}}" does not start with a step id`);
  const path: PathSegment[] = [];
  let rest = text.slice(head[0].length);
  while (rest.length > 0) {
    const match = SEGMENT.exec(rest);
    if (!match) throw new FanoutError("validation_failed", `"{{${text}}}" has an invalid path near "${rest}"`);
    if (match[1] !== undefined) path.push(match[1]);
    else path.push(match[2] === "*" ? "*" : Number(match[2]));
    rest = rest.slice(match[0].length);
  }
  return { text, root: head[0], path };
}

/**
 * Parses a `pick` path (`a.b[0].c`, `[2].name`, `items[*].id`) into segments.
 * @throws FanoutError `validation_failed` naming the path when it is malformed (`a..b`, `[`).
 */
export function parsePickPath(path: string): PathSegment[] {
  if (!/^[A-Za-z0-9_$-]|^\[/.test(path))
    throw new FanoutError("validation_failed", `pick path "${path}" must start with a field name or [n]`);
  const segments: PathSegment[] = [];
  let rest = path.startsWith("[") ? path : `.${path}`;
  while (rest.length > 0) {
    const match = SEGMENT.exec(rest);
    if (!match) throw new FanoutError("validation_failed", `pick path "${path}" is invalid near "${rest.replace(/^\./, "")}"`);
    if (match[1] !== undefined) segments.push(match[1]);
    else segments.push(match[2] === "*" ? "*" : Number(match[2]));
    rest = rest.slice(match[0].length);
  }
  return segments;
}

function referencesIn(text: string): Reference[] {
  return [...text.matchAll(REFERENCE)].map((match) => parseReference(match[1]!.trim()));
}

/** Every reference in a JSON value, with the JSON path where it stands. */
export function collectReferences(value: unknown, at: string, depth = 0): LocatedReference[] {
  if (typeof value === "string") return referencesIn(value).map((reference) => ({ ...reference, at }));
  if (!value || typeof value !== "object") return [];
  if (depth >= MAX_TEMPLATE_DEPTH) throw tooDeep(at);
  if (Array.isArray(value)) return value.flatMap((item, index) => collectReferences(item, `${at}[${index}]`, depth + 1));
  return Object.entries(value).flatMap(([key, item]) => collectReferences(item, `${at}.${key}`, depth + 1));
}

/** What references resolve against: settled steps' values, and the forEach item. */
export interface Scope {
  step(id: string): unknown;
  item?: unknown;
  index?: number;
  /**
   * Values bound from the request (a composite's params, query and headers), by root name. Rendering
   * is one pass, so a bound value that itself contains `{{...}}` is text, never a reference.
   */
  inputs?: Readonly<Record<string, unknown>>;
}

function missing(reference: Reference, why: string): FanoutError {
  return new FanoutError("reference_missing", `{{${reference.text}}}: ${why}`);
}

/** Follows `path` into `value`; `[*]` maps over an array. */
export function followPath(value: unknown, path: readonly PathSegment[], onMissing: (why: string) => never): unknown {
  let current = value;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    if (segment === "*") {
      if (!Array.isArray(current)) onMissing(`[*] needs an array, found ${describe(current)}`);
      const rest = path.slice(i + 1);
      return (current as unknown[]).map((element) => followPath(element, rest, onMissing));
    }
    if (typeof segment === "number") {
      if (!Array.isArray(current) || segment >= current.length) onMissing(`no element [${segment}] in ${describe(current)}`);
      current = (current as unknown[])[segment];
    } else {
      if (!current || typeof current !== "object" || Array.isArray(current) || !Object.hasOwn(current, segment)) {
        onMissing(`no field "${segment}" in ${describe(current)}`);
      }
      current = (current as Record<string, unknown>)[segment];
    }
  }
  return current;
}

/** A key a reference could name (SEGMENT's characters): only such keys are listed, so one that looks like data (an email, a URL) is never echoed. */
const NAMEABLE_KEY = /^[A-Za-z0-9_$-]{1,64}$/;

/** What stands at a reference's failing point: an array's length, an object's fields (up to ten), or the type. */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value !== "object") return `a ${typeof value}`;
  const keys = Object.keys(value as object);
  if (keys.length === 0) return "an empty object";
  const nameable = keys.filter((key) => NAMEABLE_KEY.test(key));
  if (nameable.length === 0) return `an object of ${keys.length} field${keys.length === 1 ? "" : "s"}`;
  return `an object (fields: ${listNames(nameable, 10, keys.length)})`;
}

function resolveReference(reference: Reference, scope: Scope): unknown {
  const fail = (why: string): never => {
    throw missing(reference, why);
  };
  if (reference.root === "item") {
    if (!("item" in scope)) fail("{{item}} is only defined inside a forEach step");
    return followPath(scope.item, reference.path, fail);
  }
  if (reference.root === "index") {
    if (scope.index === undefined) fail("{{index}} is only defined inside a forEach step");
    return scope.index;
  }
  if (scope.inputs && Object.hasOwn(scope.inputs, reference.root)) return followPath(scope.inputs[reference.root], reference.path, fail);
  return followPath(scope.step(reference.root), reference.path, fail);
}

function stringify(value: unknown, reference: string): string {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  if (typeof value !== "object") return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    // A value nested deeper than the engine's stack allows (data from an upstream or storage).
    throw new FanoutError("validation_failed", `{{${reference}}} cannot be written into text (it nests too deeply)`);
  }
}

/** A lone surrogate has no UTF-8 form, so it cannot be percent-encoded into a URL. */
function encodeForUrl(value: string, reference: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    throw new FanoutError(
      "validation_failed",
      `{{${reference}}} renders to text that is not valid Unicode (a lone surrogate), which cannot be put in a URL`,
    );
  }
}

export interface RenderOptions {
  /** URL-encode interpolated values (not whole-string references). */
  encode?: boolean;
}

/** Renders one string: a lone reference keeps the referenced value's JSON type. */
export function renderString(text: string, scope: Scope, { encode = false }: RenderOptions = {}): unknown {
  const references = [...text.matchAll(REFERENCE)];
  if (references.length === 0) return text;
  if (references.length === 1 && references[0]![0] === text) return resolveReference(parseReference(references[0]![1]!.trim()), scope);
  let length = text.length;
  return text.replace(REFERENCE, (_, inner: string) => {
    const reference = inner.trim();
    const value = stringify(resolveReference(parseReference(reference), scope), reference);
    const rendered = encode ? encodeForUrl(value, reference) : value;
    length += rendered.length;
    if (length > MAX_RENDERED_CHARS)
      throw new FanoutError("limit_exceeded", `a string with {{${reference}}} renders to more than ${MAX_RENDERED_CHARS} characters`);
    return rendered;
  });
}

/** Renders every string in a JSON value; `encodeAt` says which keys hold URLs. */
export function renderValue(value: unknown, scope: Scope, encodeAt: (key: string) => boolean = () => false, key = "", depth = 0): unknown {
  if (typeof value === "string") return renderString(value, scope, { encode: encodeAt(key) });
  if (!value || typeof value !== "object") return value;
  if (depth >= MAX_TEMPLATE_DEPTH) throw tooDeep(key);
  if (Array.isArray(value)) return value.map((item) => renderValue(item, scope, encodeAt, key, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, renderValue(item, scope, encodeAt, name, depth + 1)]));
}
