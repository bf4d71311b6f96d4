import { describe, expect, it } from "vitest";
import { FanoutError } from "../../../lib/base/errors";
import { collectReferences, parseReference, renderString, renderValue, type Scope } from "../../../lib/batch/template";

const steps: Record<string, unknown> = {
  user: { status: 200, headers: { "content-type": "application/json" }, body: { id: 7, name: "Ada L", tags: ["a", "b"] } },
  posts: { status: 200, headers: {}, body: [{ id: 1 }, { id: 2 }, { id: 3 }] },
};
const scope: Scope = { step: (id) => steps[id] };

describe("parseReference", () => {
  it("reads dot paths, [n] and [*]", () => {
    expect(parseReference("posts.body[*].id")).toEqual({ text: "posts.body[*].id", root: "posts", path: ["body", "*", "id"] });
    expect(parseReference("user.headers.content-type").path).toEqual(["headers", "content-type"]);
    expect(parseReference("user.body.tags[1]").path).toEqual(["body", "tags", 1]);
  });

  it("rejects malformed paths", () => {
    expect(() => parseReference("user..body")).toThrow(/invalid path/);
    expect(() => parseReference("user.body[x]")).toThrow(/invalid path/);
    expect(() => parseReference(".body")).toThrow(/step id/);
  });
});

describe("renderString", () => {
  it("gives a lone reference its JSON value", () => {
    expect(renderString("{{user.body.id}}", scope)).toBe(7);
    expect(renderString("{{ posts.body[*].id }}", scope)).toEqual([1, 2, 3]);
    expect(renderString("{{user.status}}", scope)).toBe(200);
  });

  it("interpolates inside a longer string, URL-encoding when asked", () => {
    expect(renderString("/users/{{user.body.id}}/posts", scope)).toBe("/users/7/posts");
    expect(renderString("q={{user.body.name}}", scope, { encode: true })).toBe("q=Ada%20L");
    expect(renderString("tags: {{user.body.tags}}", scope)).toBe('tags: ["a","b"]');
  });

  it("resolves item and index inside forEach", () => {
    const each: Scope = { ...scope, item: { id: 9 }, index: 2 };
    expect(renderString("/posts/{{item.id}}?n={{index}}", each)).toBe("/posts/9?n=2");
  });

  it("reports a missing path precisely", () => {
    expect(() => renderString("{{user.body.email}}", scope)).toThrow(
      expect.objectContaining({
        code: "reference_missing",
        detail: '{{user.body.email}}: no field "email" in an object (fields: id, name, tags)',
      }),
    );
    expect(() => renderString("{{posts.body[5].id}}", scope)).toThrow(/no element \[5\] in an array of 3/);
    expect(() => renderString("{{user.body[*]}}", scope)).toThrow(/\[\*\] needs an array/);
    expect(() => renderString("{{item}}", scope)).toThrow(/only defined inside a forEach/);
  });

  it("lists the fields at the failing point: up to ten, only those a reference could name, never the values", () => {
    const missing = (item: unknown, reference: string) => {
      try {
        renderString(reference, { ...scope, item });
      } catch (error) {
        return (error as FanoutError).detail;
      }
      return "resolved";
    };
    const wide = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, `secret-${i}`]));
    expect(missing(wide, "{{item.k11}}")).toBe(
      '{{item.k11}}: no field "k11" in an object (fields: k0, k1, k2, k3, k4, k5, k6, k7, k8, k9 and 1 more)',
    );
    // Keys that look like data (an email, a URL) are counted, not shown.
    const byEmail = { "ada@example.com": 1, "https://x.example/": 2, id: 3 };
    expect(missing(byEmail, "{{item.name}}")).toBe('{{item.name}}: no field "name" in an object (fields: id and 2 more)');
    expect(missing({ "a b": 1 }, "{{item.ab}}")).toBe('{{item.ab}}: no field "ab" in an object of 1 field');
    expect(missing({}, "{{item.id}}")).toBe('{{item.id}}: no field "id" in an empty object');
    expect(missing({ id: 1 }, "{{item[*]}}")).toBe("{{item[*]}}: [*] needs an array, found an object (fields: id)");
    expect(missing("text", "{{item.id}}")).toBe('{{item.id}}: no field "id" in a string');
  });
});

describe("renderValue and collectReferences", () => {
  it("renders nested values and encodes only URL fields", () => {
    const spec = {
      url: "https://x.example/{{user.body.name}}",
      headers: { "x-name": "{{user.body.name}}" },
      body: { ids: "{{posts.body[*].id}}" },
    };
    expect(renderValue(spec, scope, (key) => key === "url")).toEqual({
      url: "https://x.example/Ada%20L",
      headers: { "x-name": "Ada L" },
      body: { ids: [1, 2, 3] },
    });
  });

  it("finds every reference with its JSON path", () => {
    const found = collectReferences({ url: "/a/{{user.body.id}}", params: ["{{posts.status}}"] }, "steps[1].http");
    expect(found.map((reference) => [reference.at, reference.root])).toEqual([
      ["steps[1].http.url", "user"],
      ["steps[1].http.params[0]", "posts"],
    ]);
  });
});

describe("the engine is total on hostile input", () => {
  const deep = (depth: number): unknown => JSON.parse("[".repeat(depth) + "]".repeat(depth));
  const scopeWith = (body: unknown): Scope => ({ step: () => ({ status: 200, headers: {}, body }) });

  it("scans an unclosed {{ followed by 200,000 spaces in one pass (the old pattern backtracked for hours)", () => {
    expect(collectReferences(`{{${" ".repeat(200_000)}}`, "x")).toEqual([]);
    expect(collectReferences(`{{ a.body }}${"{".repeat(50_000)}`, "x").map((reference) => reference.root)).toEqual(["a"]);
  });

  it("refuses a template nested deeper than it walks, with a typed error", () => {
    expect(() => collectReferences(deep(5_000), "steps[0].http.body")).toThrow(FanoutError);
    expect(() => renderValue(deep(5_000), scopeWith(null))).toThrow(FanoutError);
  });

  it("fails with a typed error when a value cannot be written into text", () => {
    // JSON.stringify throws on a value deeper than the stack allows; a cycle makes it throw at any depth.
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => renderString("x{{a.body}}", scopeWith(cyclic))).toThrow(FanoutError);
    expect(() => renderString("x{{a.body}}", scopeWith(cyclic))).toThrow(/cannot be written into text/);
  });

  it("refuses a lone surrogate in a URL instead of throwing URIError", () => {
    expect(() => renderString("/v1/sim/status/200?x={{a.body}}", scopeWith("\ud800"), { encode: true })).toThrow(/lone surrogate/);
    expect(renderString("x={{a.body}}", scopeWith("\ud800"))).toBe("x=\ud800");
  });
});

describe("a rendered string has a size limit", () => {
  it("a short template that repeats a reference to a large value fails with limit_exceeded, not a RangeError", () => {
    const large = "x".repeat(100_000);
    const scopeOf: Scope = { step: () => ({ status: 200, headers: {}, body: large }) };
    expect(renderString("{{a.body}}".repeat(10), scopeOf)).toHaveLength(1_000_000);
    expect(() => renderString("{{a.body}}".repeat(11), scopeOf)).toThrow(expect.objectContaining({ code: "limit_exceeded" }));
    expect(() => renderString("{{a.body}}".repeat(1_000), scopeOf)).toThrow(/more than 1048576 characters/);
  });
});
