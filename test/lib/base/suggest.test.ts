import { describe, expect, it } from "vitest";
import { z } from "zod";
import { keysAt } from "../../../lib/base/schema";
import { didYouMean, editDistance, listNames, nearest } from "../../../lib/base/suggest";

/** "Did you mean": the edit distance, the nearest likely candidate, and the keys a schema accepts at a path. */

describe("editDistance", () => {
  it.each([
    ["", "", 0],
    ["abc", "", 3],
    ["", "abc", 3],
    ["required", "required", 0],
    ["requird", "required", 1], // a deletion
    ["requiired", "required", 1], // an insertion
    ["requirad", "required", 1], // a substitution
    ["reqiured", "required", 1], // two neighbours swapped
    ["kitten", "sitting", 3],
    ["userByld", "userById", 1],
  ])("%j -> %j is %i", (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance);
    expect(editDistance(b, a)).toBe(distance);
  });
});

describe("nearest and didYouMean", () => {
  const fields = ["id", "dependsOn", "forEach", "required", "http", "kv", "d1"];

  it("suggests the closest candidate within a third of the name's length (at least one edit)", () => {
    expect(nearest("requird", fields)).toBe("required");
    expect(nearest("dependson", fields)).toBe("dependsOn"); // case is ignored
    expect(nearest("htp", fields)).toBe("http");
    expect(nearest("d2", fields)).toBe("d1");
    expect(didYouMean("requird", fields)).toBe("; did you mean `required`?");
  });

  it("suggests nothing for a name far from every candidate, an exact match or no candidates", () => {
    expect(nearest("timeout", fields)).toBeUndefined();
    expect(nearest("userByEmail", ["userById", "ordersByUser"])).toBeUndefined();
    expect(nearest("http", fields)).toBeUndefined();
    expect(nearest("x", [])).toBeUndefined();
    expect(didYouMean("timeout", fields)).toBe("");
  });

  it("prefers the nearest, then the first of equals", () => {
    expect(nearest("abcd", ["abxy", "abcx", "abcy"])).toBe("abcx");
  });
});

describe("keysAt: the keys an object schema accepts at a path", () => {
  const schema = z
    .object({
      steps: z.array(z.object({ id: z.string(), required: z.boolean().default(true) }).strict()).optional(),
      byName: z.record(z.string(), z.object({ ttl: z.number() }).strict()),
      piped: z.preprocess((value) => value, z.object({ inner: z.string() }).strict()),
      either: z.union([z.object({ a: z.number() }).strict(), z.object({ b: z.number() }).strict()]),
    })
    .strict()
    .superRefine(() => {});

  it("looks through arrays, records, wrappers, pipes and unions", () => {
    expect(keysAt(schema, [])).toEqual(["steps", "byName", "piped", "either"]);
    expect(keysAt(schema, ["steps", 0])).toEqual(["id", "required"]);
    expect(keysAt(schema, ["byName", "any"])).toEqual(["ttl"]);
    expect(keysAt(schema, ["piped"])).toEqual(["inner"]);
    expect(keysAt(schema, ["either"])).toEqual(["a", "b"]);
  });

  it("is empty where no object schema is", () => {
    expect(keysAt(schema, ["steps", 0, "id"])).toEqual([]);
    expect(keysAt(schema, ["nope"])).toEqual([]);
  });
});

describe("listNames: what a misspelt name could have been", () => {
  it("lists up to max names, then how many more of the total; empty for none", () => {
    expect(listNames(["userById", "ordersByUser"])).toBe("userById, ordersByUser");
    expect(listNames(["a", "b", "c"], 2)).toBe("a, b and 1 more");
    expect(listNames(["a"], 10, 4)).toBe("a and 3 more");
    expect(listNames([])).toBe("empty");
  });
});
