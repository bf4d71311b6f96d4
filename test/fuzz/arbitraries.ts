import fc from "fast-check";

/**
 * Arbitraries shared by the properties: hostile strings, reference texts as clients write them
 * (and as they mistype them), and values nested deeper than any fixed recursion would survive.
 */

/** Strings a parser or a header must survive: control characters, unicode, braces, very long runs. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "\r\n",
      "\r",
      "\n",
      "\0",
      "a\r\nx-injected: 1",
      "\u2028",
      "\uFEFF",
      "\uD800",
      "\uDFFF",
      "💥",
      "İ",
      "ß",
      "\u202E",
      "%00",
      "%0d%0a",
      "..",
      "../",
      "\\",
      "\t",
      " ",
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "{{",
      "}}",
      "{{}}",
      "{{ }}",
      "{{a.body}}",
      "{{item}}",
      "{{index}}",
      "{{a..b}}",
      "{{[}}",
      "{{a.body[*]}}",
      "{{{{a}}}}",
      "{{a.body[99999999999999999999]}}",
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom("a", "{", "}", "{{a.body}}", "é", "\0", "{{a"), fc.integer({ min: 1_000, max: 70_000 }))
      .map(([unit, times]) => unit.repeat(times).slice(0, 70_000)),
  },
  // Whitespace runs are kept shorter: after "{{" they are what a backtracking reference scanner chokes on,
  // which the linear-time property in template.fuzz.test.ts measures on its own.
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom("\r\n", " ", "\t"), fc.integer({ min: 50, max: 200 })).map(([unit, times]) => unit.repeat(times)),
  },
);

/** Field names, including the ones that live on Object.prototype. */
export const fieldName = fc.oneof(
  fc.constantFrom(
    "status",
    "headers",
    "body",
    "items",
    "id",
    "name",
    "__proto__",
    "constructor",
    "toString",
    "hasOwnProperty",
    "length",
    "0",
    "-",
    "$",
    "_",
  ),
  fc.stringMatching(/^[A-Za-z0-9_$-]{1,12}$/),
);

/** One path segment as written in a reference: `.name`, `[n]` (huge ones too) or `[*]`. */
export const pathSegment = fc.oneof(
  fieldName.map((name) => `.${name}`),
  fc.nat({ max: 5 }).map((n) => `[${n}]`),
  fc.constantFrom("[*]", "[4294967295]", "[9007199254740993]", "[99999999999999999999999]", "[00]"),
);

/** What stands between `{{` and `}}`: well-formed references, near misses and junk. */
export function referenceText(roots: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.tuple(roots, fc.array(pathSegment, { maxLength: 6 })).map(([root, path]) => root + path.join("")) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(" ", "\t", "  "), roots, fc.constantFrom(" ", "\n", ""))
        .map(([a, root, b]) => `${a}${root}.body${b}`),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "a..b",
        "[",
        "a[",
        "a[-1]",
        "a.",
        "a.body.",
        ".body",
        "a.body[x]",
        "a body",
        "",
        "a.b c",
        "a]",
        "a.body[*][*]",
        "x".repeat(65),
      ),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  );
}

/** A string that may hold references among literal text. */
export function templateString(roots: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const piece = fc.oneof(
    { weight: 3, arbitrary: referenceText(roots).map((text) => `{{${text}}}`) },
    { weight: 3, arbitrary: fc.string({ maxLength: 8 }) },
    { weight: 1, arbitrary: fc.constantFrom("{", "}", "{{", "}}", "{{{", "}}}") },
    { weight: 1, arbitrary: hostileString },
  );
  return fc.array(piece, { maxLength: 4 }).map((pieces) => pieces.join(""));
}

/**
 * A value `depth` levels deep: arrays or objects wrapped around `leaf`. It tells fast-check how to
 * print it (a symbol key, invisible to JSON and to the code under test): printing it by recursion
 * would overflow the stack and lose the counterexample.
 */
export function nested<T>(leaf: T, depth: number, kind: "array" | "object" | "mixed"): unknown {
  let value: unknown = leaf;
  for (let level = 0; level < depth; level++) {
    const asArray = kind === "array" || (kind === "mixed" && level % 2 === 0);
    value = asArray ? [value] : { a: value };
  }
  if (depth > 0)
    Object.defineProperty(value, fc.toStringMethod, { value: () => `nested(${fc.stringify(leaf).slice(0, 200)}, ${depth}, "${kind}")` });
  return value;
}

/** The JSON text of a value `depth` levels deep, built without recursion. */
export function nestedJson(depth: number, kind: "array" | "object"): string {
  return kind === "array" ? `${"[".repeat(depth)}1${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
}

/** JSON-shaped values, sometimes very deep, sometimes with huge or awkward numbers. */
export const awkwardNumber = fc.oneof(
  fc.constantFrom(0, -0, 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER + 2, -(2 ** 63), 2 ** 64, 1e21, 0.1 + 0.2, 4294967296),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);

/** JSON-shaped values; the deep ones go down to `maxDepth` levels (JSON.stringify itself overflows near 10,000). */
export function jsonishUpTo(maxDepth: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.integer({ min: 10, max: maxDepth }),
          fc.constantFrom("array", "object", "mixed") as fc.Arbitrary<"array" | "object" | "mixed">,
        )
        .map(([depth, kind]) => nested(1, depth, kind)),
    },
    { weight: 1, arbitrary: awkwardNumber },
    { weight: 1, arbitrary: hostileString },
  );
}

/** What a step may have answered: upstreams and storage can hold JSON far deeper than a client may send. */
export const jsonish = jsonishUpTo(20_000);

/** What a client can write inside a request and still have it serialised: deeper than MAX_JSON_DEPTH, not stack-deep. */
export const requestJsonish = jsonishUpTo(200);
