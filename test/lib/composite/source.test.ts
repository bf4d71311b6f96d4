import { describe, expect, it } from "vitest";
import { DEFAULT_PREFIX } from "../../../lib/composite/catalog";
import { fieldSegments, loadCompositesFile } from "../../../lib/composite/source";

/**
 * The composites file as text: JSONC (comments, trailing commas) loads; a syntax error or an invalid
 * top level yields no composites and says where, never throws; every problem of a composite can be
 * placed at its line and column.
 */

const FILE = "composites.jsonc";
const lines = (...text: string[]) => text.join("\n");

describe("loadCompositesFile: JSONC", () => {
  it("reads comments and trailing commas", () => {
    const catalog = loadCompositesFile(
      lines(
        "// the composites",
        "{",
        '  "composites": {',
        '    /* a public one */ "w": { "path": "w", "auth": "none", "steps": [{ "id": "a", "wait": { "ms": 1 } },], },',
        "  },",
        "}",
      ),
      FILE,
    );
    expect(catalog.source.errors).toEqual([]);
    expect(catalog.broken).toEqual([]);
    expect(catalog.composites.map((composite) => composite.name)).toEqual(["w"]);
  });

  it("a byte-order mark is not an error and keeps the columns", () => {
    const catalog = loadCompositesFile('\uFEFF{ "composites": { "w": { "path": "w" } } }', FILE);
    expect(catalog.source.errors).toEqual([]);
    expect(catalog.source.locate("w", "path")).toBe(`${FILE}:1:27`);
  });
});

describe("loadCompositesFile: a file that does not load yields no composites and says where", () => {
  it.each([
    ["a missing comma", lines("{", '  "composites": {', '    "a": { "path": "a" }', '    "b": {}', "  }", "}"), "4:5", /expected a comma/],
    ["an unclosed brace", lines("{", '  "composites": {'), "2:18", /expected a closing brace/],
    ["a stray character", lines("{", '  "composites": {} x', "}"), "2:20", /unexpected character/],
    ["an unclosed comment", lines('{ "composites": {} }', "/* never closed"), "2:1", /never closed/],
    ["an empty file", "", "1:1", /expected a value/],
    ["only a comment", "// nothing else", "1:16", /expected a value/],
    [
      "a composite declared twice",
      lines("{", '  "composites": {', '    "a": { "path": "a" },', '    "a": { "path": "b" }', "  }", "}"),
      "4:5",
      /^duplicate key "a" \(first at line 3, column 5\): JSON keeps only one of them$/,
    ],
    [
      "a field written twice in a step",
      lines('{ "composites": { "a": { "path": "a", "steps": [', '  { "id": "s", "wait": { "ms": 1 }, "id": "t" }', "] } } }"),
      "2:37",
      /^duplicate key "id" \(first at line 2, column 5\)/,
    ],
  ])("%s", (_, text, position, reason) => {
    const catalog = loadCompositesFile(text, FILE);
    expect(catalog.composites).toEqual([]);
    expect(catalog.broken).toEqual([]);
    expect(catalog.source.errors).toHaveLength(1);
    expect(catalog.source.errors[0]).toMatchObject({ at: `${FILE}:${position}`, field: "", reason: expect.stringMatching(reason) });
  });

  it("keeps the prefix it can read, so its paths answer 503 rather than 404", () => {
    expect(loadCompositesFile('{ "prefix": "/screens/", "composites": { "a": ', FILE).prefix).toBe("/screens/");
    expect(loadCompositesFile('{ "prefix": "nope", "composites": { ', FILE).prefix).toBe(DEFAULT_PREFIX);
  });

  it("an invalid top level is an error at its field (not a broken composite)", () => {
    const catalog = loadCompositesFile(lines("{", '  "prefix": "v1/c",', '  "composites": {}', "}"), FILE);
    expect(catalog.broken).toEqual([]);
    expect(catalog.source.errors).toEqual([
      { at: `${FILE}:2:3`, field: "prefix", reason: expect.stringMatching(/starts and ends with \//) },
    ]);
    const misspelt = loadCompositesFile(lines("{", '  "composite": {}', "}"), FILE);
    expect(misspelt.source.errors).toContainEqual({
      at: `${FILE}:2:3`,
      field: "composite",
      reason: 'unknown key "composite"; did you mean `composites`?',
    });
  });

  it("a composite named (file) is still a composite", () => {
    const catalog = loadCompositesFile('{ "composites": { "(file)": { "path": "f" } } }', FILE);
    expect(catalog.source.errors).toEqual([]);
    expect(catalog.broken.map((entry) => entry.name)).toEqual(["(file)"]);
  });
});

describe("locate: every problem has a line and column", () => {
  const text = lines(
    "{",
    '  "composites": {',
    '    "home": {',
    '      "path": "home",',
    '      "auth": "apiKey",',
    '      "steps": [',
    '        { "id": "user", "d1": { "query": "userByld" } }',
    "      ],",
    '      "output": { "steps": { "user": { "rename": { "a.b": "c" } } } }',
    "    }",
    "  }",
    "}",
  );
  const { source } = loadCompositesFile(text, FILE);

  it("a field is placed at its key; an array element at its start", () => {
    expect(source.locate("home", "")).toBe(`${FILE}:3:5`);
    expect(source.locate("home", "path")).toBe(`${FILE}:4:7`);
    expect(source.locate("home", "steps[0]")).toBe(`${FILE}:7:9`);
    expect(source.locate("home", "steps[0].d1.query")).toBe(`${FILE}:7:33`);
    expect(source.locate(undefined, "composites")).toBe(`${FILE}:2:3`);
  });

  it("a key holding dots is found; a missing field is placed at the nearest enclosing one", () => {
    expect(source.locate("home", "output.steps.user.rename.a.b")).toBe(`${FILE}:9:52`);
    expect(source.locate("home", "steps[0].d1.params")).toBe(`${FILE}:7:25`);
    expect(source.locate("home", "steps[3].http.url")).toBe(`${FILE}:6:7`);
    expect(source.locate("nope", "path")).toBe(`${FILE}:2:3`);
  });

  it("declaration reads a composite as written", () => {
    expect(source.declaration("home")).toMatchObject({ path: "home", auth: "apiKey" });
    expect(source.declaration("nope")).toBeUndefined();
  });

  it("fieldSegments splits a field name as issuePath writes it", () => {
    expect(fieldSegments("steps[2].http.url")).toEqual(["steps", 2, "http", "url"]);
    expect(fieldSegments("")).toEqual([]);
    expect(fieldSegments("output.fields.x")).toEqual(["output", "fields", "x"]);
  });
});
