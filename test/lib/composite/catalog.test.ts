import { describe, expect, it } from "vitest";
import compositesText from "../../../functions/composites.jsonc";
import { type BrokenComposite, DEFAULT_PREFIX, loadComposites } from "../../../lib/composite/catalog";
import type { ParamSpec } from "../../../lib/composite/definition";
import { paramSchema } from "../../../lib/composite/params";
import { loadCompositesFile } from "../../../lib/composite/source";

/**
 * The composites file: the bundled one loads, one bad composite never takes another down, every
 * cross-check names the composite's field, and each param's request-time schema.
 */

/** A small valid composite; `change` replaces top-level fields. */
function composite(change: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    path: "thing",
    auth: "none",
    // Its steps call the in-process /v1/sim/, the demo surface.
    demo: true,
    params: { id: { in: "query", type: "integer", required: true } },
    headers: ["accept-language"],
    steps: [{ id: "a", http: { url: "/v1/sim/status/200?id={{params.id}}&lang={{headers.accept-language}}" } }],
    ...change,
  };
}

function load(composites: Record<string, unknown>, top: Record<string, unknown> = {}) {
  return loadComposites({ composites, ...top });
}

/** The one broken composite a file of one composite yields. */
function brokenOne(declaration: Record<string, unknown>): BrokenComposite {
  const catalog = load({ bad: declaration });
  expect(catalog.composites).toEqual([]);
  expect(catalog.broken).toHaveLength(1);
  expect(catalog.broken[0]!.name).toBe("bad");
  return catalog.broken[0]!;
}

/** Asserts a problem at exactly `name` whose reason matches `reason`. */
function expectProblem(broken: BrokenComposite, name: string, reason: RegExp): void {
  expect(broken.problems, JSON.stringify(broken.problems)).toContainEqual({ name, reason: expect.stringMatching(reason) });
}

describe("loadComposites: the bundled functions/composites.jsonc", () => {
  it("loads every composite, none broken", () => {
    const catalog = loadCompositesFile(compositesText, "functions/composites.jsonc");
    expect(catalog.source.errors).toEqual([]);
    expect(catalog.broken).toEqual([]);
    expect(catalog.prefix).toBe(DEFAULT_PREFIX);
    expect(catalog.composites.map((entry) => entry.name).sort()).toEqual(["home", "product", "welcome"]);
  });

  it("fills the defaults (query params, required steps, allSettled, no vary)", () => {
    const catalog = load({ ok: composite() });
    expect(catalog.broken).toEqual([]);
    expect(catalog.composites[0]).toMatchObject({
      name: "ok",
      mode: "allSettled",
      params: { id: { in: "query", required: true } },
      steps: [{ id: "a", required: true }],
    });
    const hinted = load({ ok: composite({ steps: [{ id: "a", http: { url: "/v1/sim/status/200" }, expectedMs: 250 }] }) });
    expect(hinted.composites[0]!.steps[0]).toMatchObject({ id: "a", expectedMs: 250 });
    expect(brokenOne(composite({ steps: [{ id: "a", http: { url: "/v1/sim/status/200" }, expectedMs: -1 }] })).problems).not.toEqual([]);
    const cached = load({ ok: composite({ cache: { ttlSeconds: 5 } }) }).composites[0]!;
    expect(cached.cache).toEqual({ ttlSeconds: 5, staleWhileRevalidateSeconds: 0, vary: [], perApiKey: false });
  });
});

describe("loadComposites: one composite at a time", () => {
  it("a bad composite is reported and the good ones still load", () => {
    const catalog = load({ good: composite(), bad: composite({ path: "other", steps: [] }), alsoGood: composite({ path: "third" }) });
    expect(catalog.composites.map((entry) => entry.name)).toEqual(["good", "alsoGood"]);
    expect(catalog.broken).toEqual([{ name: "bad", path: "other", problems: [expect.objectContaining({ name: "steps" })] }]);
  });

  it("keeps a broken composite's usable path (so it can answer 503 naming itself), and drops an unusable one", () => {
    expect(brokenOne(composite({ path: "ok/path", auth: "maybe" })).path).toBe("ok/path");
    expect(brokenOne(composite({ path: "Bad Path" })).path).toBeUndefined();
    expect(brokenOne(composite({ path: 7 })).path).toBeUndefined();
  });

  it.each([[null], [5], ["text"], [[]]])("a declaration that is not an object (%j) is broken, not a crash", (declaration) => {
    const catalog = load({ bad: declaration, good: composite() });
    expect(catalog.composites.map((entry) => entry.name)).toEqual(["good"]);
    expect(catalog.broken.map((entry) => entry.name)).toEqual(["bad"]);
  });

  it("refuses a composite name that is not a name", () => {
    const catalog = load({ "bad name": composite(), "1st": composite({ path: "x" }) });
    expect(catalog.composites).toEqual([]);
    expect(catalog.broken.map((entry) => [entry.name, entry.problems[0]?.name])).toEqual([
      ["bad name", "name"],
      ["1st", "name"],
    ]);
  });

  it("refuses a second composite on the same path (parameter names do not matter), naming the first", () => {
    const catalog = load({
      first: composite({ path: "users/:id", params: { id: { in: "path", type: "integer" } }, steps: [{ id: "a", wait: { ms: 0 } }] }),
      second: composite({ path: "users/:uid", params: { uid: { in: "path", type: "string" } }, steps: [{ id: "a", wait: { ms: 0 } }] }),
      third: composite({
        path: "users/:id/orders",
        params: { id: { in: "path", type: "integer" } },
        steps: [{ id: "a", wait: { ms: 0 } }],
      }),
    });
    expect(catalog.composites.map((entry) => entry.name)).toEqual(["first", "third"]);
    expect(catalog.broken).toEqual([{ name: "second", problems: [{ name: "path", reason: 'the same path as composite "first"' }] }]);
  });

  it.each([
    ["no composites", {}, "composites"],
    ["composites not an object", { composites: [] }, "composites"],
    ["an unknown top-level key", { composites: {}, extra: 1 }, "extra"],
    ["a prefix without slashes", { composites: {}, prefix: "v1/c" }, "prefix"],
  ])("a bad top level (%s) yields no composites and one broken (file) entry", (_, file, field) => {
    const catalog = loadComposites(file);
    expect(catalog.composites).toEqual([]);
    expect(catalog.broken).toHaveLength(1);
    expect(catalog.broken[0]!.name).toBe("(file)");
    expect(catalog.broken[0]!.problems.map((problem) => problem.name)).toContain(field);
  });

  it.each([null, "x", 1])("a file that is not an object (%j) is one broken (file) entry", (file) => {
    expect(loadComposites(file)).toMatchObject({ composites: [], broken: [{ name: "(file)" }] });
  });

  it("takes a custom prefix", () => {
    expect(load({ ok: composite() }, { prefix: "/api/" }).prefix).toBe("/api/");
  });
});

describe("loadComposites: every cross-check names the field", () => {
  const wait = [{ id: "a", wait: { ms: 0 } }];

  it("a :param in the path needs a path param", () => {
    expectProblem(brokenOne(composite({ path: "users/:id", params: {}, steps: wait })), "path", /:id needs a param "id" with "in": "path"/);
    expectProblem(
      brokenOne(composite({ path: "users/:id", params: { id: { in: "query", type: "integer" } }, steps: wait })),
      "path",
      /:id needs a param "id"/,
    );
  });

  it("a path param needs a :param in the path", () => {
    expectProblem(
      brokenOne(composite({ params: { id: { in: "path", type: "integer" } }, steps: wait })),
      "params.id",
      /the path has no :id/,
    );
  });

  it("a path param has no default", () => {
    const broken = brokenOne(composite({ path: "u/:id", params: { id: { in: "path", type: "integer", default: 1 } }, steps: wait }));
    expectProblem(broken, "params.id.default", /a path parameter has no default/);
  });

  it("debug is reserved", () => {
    expectProblem(brokenOne(composite({ params: { debug: { type: "boolean" } }, steps: wait })), "params.debug", /debug is reserved/);
  });

  it("a varied header must be an allowed header", () => {
    const broken = brokenOne(composite({ cache: { ttlSeconds: 5, vary: ["accept-language", "x-tenant"] } }));
    expectProblem(broken, "cache.vary", /x-tenant must be listed in headers/);
    expect(broken.problems).toHaveLength(1);
  });

  it("perApiKey needs auth apiKey", () => {
    expectProblem(brokenOne(composite({ cache: { ttlSeconds: 5, perApiKey: true } })), "cache.perApiKey", /needs auth apiKey/);
    expect(load({ ok: composite({ auth: "apiKey", cache: { ttlSeconds: 5, perApiKey: true } }) }).broken).toEqual([]);
  });

  it("a public composite calls no upstream: absolute and {{reference}} URLs need auth apiKey", () => {
    for (const url of ["https://api.example.com/users", "{{params.id}}/users"]) {
      const steps = [
        { id: "a", wait: { ms: 1 } },
        { id: "b", http: { url } },
      ];
      expectProblem(brokenOne(composite({ steps })), "steps[1].http.url", /a public composite \(auth "none"\) calls no upstream/);
      expect(load({ ok: composite({ auth: "apiKey", steps }) }).broken).toEqual([]);
    }
  });

  it("relative /v1/sim/ URLs belong to demo composites only", () => {
    const broken = brokenOne(composite({ demo: false }));
    expectProblem(broken, "steps[0].http.url", /relative \/v1\/sim\/ URLs are the demo surface/);
    expect(broken.problems).toHaveLength(1);
  });

  it("output.steps must name steps", () => {
    expectProblem(brokenOne(composite({ output: { steps: { a: {}, nope: {} } } })), "output.steps.nope", /no step "nope"/);
  });

  it("output fields must refer to steps or declared values", () => {
    const broken = brokenOne(
      composite({ output: { fields: { x: "{{nope.body}}", y: { deep: ["{{params.nope}}"] }, ok: "{{a.body}} {{params.id}}" } } }),
    );
    expectProblem(broken, "output.fields.x", /\{\{nope.body\}\} refers to unknown step "nope"/);
    expectProblem(broken, "output.fields.y.deep[0]", /\{\{params.nope\}\}: no param "nope" is declared/);
    expect(broken.problems).toHaveLength(2);
  });

  it("a step may read only declared params, query params and headers", () => {
    const broken = brokenOne(
      composite({
        path: "u/:uid",
        params: { uid: { in: "path", type: "string" }, q: { type: "string" } },
        headers: ["x-tenant"],
        steps: [
          { id: "a", http: { url: "/v1/sim/status/200?x={{params.nope}}" } },
          { id: "b", http: { url: "/v1/sim/status/200?x={{query.uid}}&y={{query.q}}&z={{params.uid}}" } },
          {
            id: "c",
            http: { url: "/v1/sim/status/200", headers: { "x-a": "{{headers.accept-language}}", "x-b": "{{headers.x-tenant}}" } },
          },
          { id: "d", kv: { key: "flags:{{params}}" } },
        ],
      }),
    );
    expectProblem(broken, "steps[0].http.url", /\{\{params.nope\}\}: no param "nope" is declared$/);
    expectProblem(broken, "steps[1].http.url", /\{\{query.uid\}\}: no param "uid" is declared in the query/);
    expectProblem(broken, "steps[2].http.headers.x-a", /\{\{headers.accept-language\}\}: no header "accept-language" is declared/);
    expectProblem(broken, "steps[3].kv.key", /\{\{params\}\}: name the value, as in \{\{params.name\}\}/);
    expect(broken.problems).toHaveLength(4);
  });

  it("a step id may not be one of the request's value roots", () => {
    expectProblem(brokenOne(composite({ steps: [{ id: "params", wait: { ms: 0 } }] })), "steps[0].id", /reserved for the request's values/);
  });

  it("the batch's own checks apply (unknown step, cycles), at the step's field", () => {
    const broken = brokenOne(composite({ steps: [{ id: "a", http: { url: "/v1/sim/status/200?x={{zz.body}}" } }] }));
    expectProblem(broken, "steps[0].http.url", /unknown step "zz"/);
  });

  it.each(["authorization", "proxy-authorization", "cookie", "cf-connecting-ip"])("never lets steps read the %s header", (name) => {
    expectProblem(brokenOne(composite({ headers: [name], steps: wait })), "headers[0]", /never visible to steps/);
  });

  it("header names are lower case", () => {
    expectProblem(brokenOne(composite({ headers: ["Accept-Language"], steps: wait })), "headers[0]", /lower case/);
  });

  it("suggests the nearest step, param or header for a misspelt reference (and nothing when none is close)", () => {
    const twoSteps = (extra: Record<string, unknown>) =>
      composite({
        steps: [
          { id: "user", wait: { ms: 1 } },
          { id: "next", wait: { ms: 1 }, ...extra },
        ],
      });
    expectProblem(brokenOne(twoSteps({ dependsOn: ["usr"] })), "steps[1].dependsOn[0]", /unknown step "usr"; did you mean `user`\?$/);
    expectProblem(brokenOne(twoSteps({ dependsOn: ["nothing"] })), "steps[1].dependsOn[0]", /unknown step "nothing"$/);
    expectProblem(
      brokenOne(composite({ steps: [{ id: "a", http: { url: "/v1/sim/status/200?id={{params.idd}}" } }] })),
      "steps[0].http.url",
      /no param "idd" is declared; did you mean `id`\?$/,
    );
    expectProblem(
      brokenOne(composite({ steps: [{ id: "a", http: { url: "/v1/sim/status/200?l={{headers.accept-languag}}" } }] })),
      "steps[0].http.url",
      /no header "accept-languag" is declared; did you mean `accept-language`\?$/,
    );
    expectProblem(brokenOne(composite({ output: { steps: { b: {} } } })), "output.steps.b", /^no step "b"; did you mean `a`\?$/);
    expectProblem(
      brokenOne(composite({ output: { fields: { x: "{{aa.body}}" } } })),
      "output.fields.x",
      /refers to unknown step "aa"; did you mean `a`\?$/,
    );
  });

  it("names the field of schema errors too (unknown keys, bad types, group with merge)", () => {
    // An unknown key is named itself, with the nearest key allowed there when one is close.
    expectProblem(brokenOne(composite({ extra: 1 })), "extra", /^unknown key "extra"$/);
    expectProblem(brokenOne(composite({ pth: "x" })), "pth", /^unknown key "pth"; did you mean `path`\?$/);
    expectProblem(
      brokenOne(composite({ steps: [{ id: "a", requird: false, wait: { ms: 1 } }] })),
      "steps[0].requird",
      /^unknown key "requird"; did you mean `required`\?$/,
    );
    expectProblem(brokenOne(composite({ steps: [{ id: "a", wait: { ms: 1, jiter: 1 } }] })), "steps[0].wait.jiter", /^unknown key "jiter"/);
    expectProblem(brokenOne(composite({ cache: { ttlSeconds: 1, vari: [] } })), "cache.vari", /did you mean `vary`\?$/);
    expectProblem(brokenOne(composite({ auth: "maybe" })), "auth", /./);
    expectProblem(brokenOne(composite({ output: { steps: { a: { group: "g", merge: true } } } })), "output.steps.a", /group or merge/);
    expectProblem(brokenOne(composite({ params: { id: { type: "date" } } })), "params.id.type", /./);
    expectProblem(
      brokenOne(composite({ params: { id: { type: "integer", pattern: "\\d+" } }, steps: wait })),
      "params.id.type",
      /for string/,
    );
    expectProblem(brokenOne(composite({ params: { id: { type: "string", pattern: "(" } }, steps: wait })), "params.id.pattern", /regular/);
    expectProblem(brokenOne(composite({ params: { id: { type: "integer", min: 5, max: 1 } }, steps: wait })), "params.id.min", /above max/);
    expectProblem(
      brokenOne(composite({ params: { id: { type: "integer", default: "x" } }, steps: wait })),
      "params.id.default",
      /the default is not a valid value: default must be an integer/,
    );
    expectProblem(brokenOne(composite({ steps: [{ id: "a" }] })), "steps[0]", /./);
  });
});

describe("paramSchema", () => {
  const spec = (change: Partial<ParamSpec>): ParamSpec => ({ in: "query", type: "string", required: true, ...change });
  /** The message of the first issue, or the parsed value. */
  function parse(schema: ReturnType<typeof paramSchema>, input: unknown): unknown {
    const result = schema.safeParse(input);
    return result.success ? { value: result.data } : result.error.issues[0]?.message;
  }

  it("integer: digits in, a number out, bounds by value", () => {
    const schema = paramSchema("user", spec({ type: "integer", min: 1, max: 100 }));
    expect(parse(schema, "42")).toEqual({ value: 42 });
    expect(parse(schema, "-0")).toBe("user must be >= 1");
    expect(parse(schema, "0")).toBe("user must be >= 1");
    expect(parse(schema, "101")).toBe("user must be <= 100");
    for (const bad of ["", "1.5", "1e2", "0x10", " 1", "1 ", "abc", "99999999999999999"])
      expect(parse(schema, bad), bad).toBe("user must be an integer");
  });

  it("number: decimals and exponents", () => {
    const schema = paramSchema("ratio", spec({ type: "number", min: -1, max: 1e3 }));
    expect(parse(schema, "0.5")).toEqual({ value: 0.5 });
    expect(parse(schema, ".5")).toEqual({ value: 0.5 });
    expect(parse(schema, "1e3")).toEqual({ value: 1000 });
    expect(parse(schema, "-1")).toEqual({ value: -1 });
    expect(parse(schema, "1e4")).toBe("ratio must be <= 1000");
    for (const bad of ["", "NaN", "Infinity", "1.", "1,5", "--1"]) expect(parse(schema, bad), bad).toBe("ratio must be a number");
  });

  it("boolean: exactly true or false", () => {
    const schema = paramSchema("flag", spec({ type: "boolean" }));
    expect(parse(schema, "true")).toEqual({ value: true });
    expect(parse(schema, "false")).toEqual({ value: false });
    for (const bad of ["1", "TRUE", "yes", ""]) expect(parse(schema, bad), bad).toBe("flag must be true or false");
  });

  it("string: printable ASCII, length bounds (1024 at most by default), pattern, enum", () => {
    expect(parse(paramSchema("s", spec({})), "hello world")).toEqual({ value: "hello world" });
    expect(parse(paramSchema("s", spec({})), "")).toEqual({ value: "" });
    expect(parse(paramSchema("s", spec({})), "x".repeat(1025))).toBe("s must be at most 1024 characters");
    expect(parse(paramSchema("s", spec({})), "a\nb")).toBe("s must be printable ASCII");
    expect(parse(paramSchema("s", spec({})), "é")).toBe("s must be printable ASCII");
    const bounded = paramSchema("s", spec({ min: 2, max: 3 }));
    expect(parse(bounded, "a")).toBe("s must be at least 2 characters");
    expect(parse(bounded, "abcd")).toBe("s must be at most 3 characters");
    const pattern = paramSchema("code", spec({ pattern: "[a-z]{2}|x" }));
    expect(parse(pattern, "en")).toEqual({ value: "en" });
    // The whole value must match (the pattern is anchored, alternatives included).
    expect(parse(pattern, "english")).toBe("code must match [a-z]{2}|x");
    expect(parse(pattern, "xy1")).toBe("code must match [a-z]{2}|x");
    const choice = paramSchema("channel", spec({ enum: ["web", "beta"] }));
    expect(parse(choice, "beta")).toEqual({ value: "beta" });
    expect(parse(choice, "WEB")).toBe("channel must be one of web, beta");
  });

  it("a required param that is missing: <name> is required", () => {
    for (const type of ["string", "integer", "number", "boolean"] as const)
      expect(parse(paramSchema("user", spec({ type })), undefined), type).toBe("user is required");
    expect(parse(paramSchema("id", spec({ in: "path", type: "integer", required: false })), undefined)).toBe("id is required");
  });

  it("a param given more than once: <name> must be given once", () => {
    for (const type of ["string", "integer", "number", "boolean"] as const) {
      expect(parse(paramSchema("user", spec({ type })), ["1", "2"]), type).toBe("user must be given once");
      expect(parse(paramSchema("user", spec({ type, required: false })), ["1", "2"]), `${type}, optional`).toBe("user must be given once");
    }
  });

  it("an optional param: absent stays absent, or takes its default", () => {
    expect(parse(paramSchema("q", spec({ required: false })), undefined)).toEqual({ value: undefined });
    expect(parse(paramSchema("n", spec({ type: "integer", required: false, default: 10 })), undefined)).toEqual({ value: 10 });
    expect(parse(paramSchema("n", spec({ type: "integer", required: false, default: 10 })), "3")).toEqual({ value: 3 });
    expect(parse(paramSchema("c", spec({ required: false, default: "web", enum: ["web", "beta"] })), undefined)).toEqual({ value: "web" });
    expect(parse(paramSchema("b", spec({ type: "boolean", required: false, default: false })), undefined)).toEqual({ value: false });
    // A given value is still checked.
    expect(parse(paramSchema("n", spec({ type: "integer", required: false, default: 10 })), "")).toBe("n must be an integer");
  });
});
