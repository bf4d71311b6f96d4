import type { z } from "zod";
import type { InvalidParam } from "./errors";
import { didYouMean } from "./suggest";

/** What the zod schemas of lib/ and functions/ share: how an issue names its field, and the type check tying a schema to its type. */

/** JSON-path style name for a zod issue path: `steps[2].http.url`. */
export function issuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (name, key) => (typeof key === "number" ? `${name}[${key}]` : name ? `${name}.${String(key)}` : String(key)),
    "",
  );
}

/**
 * True when A and B are the same type (each assignable to the other). Used as
 * `true satisfies Same<z.output<typeof Schema>, LibType>` so a schema (a documented one included)
 * cannot drift from the record lib/ builds.
 */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** What walking a schema needs of zod's definitions (zod 4's `_zod.def`), typed loosely. */
interface SchemaDef {
  type: string;
  shape?: Record<string, Walkable>;
  element?: Walkable;
  valueType?: Walkable;
  innerType?: Walkable;
  in?: Walkable;
  out?: Walkable;
  options?: Walkable[];
  getter?: () => Walkable;
}
type Walkable = { _zod: { def: SchemaDef } };

/** The schemas a value at `key` of a value of `schema` is checked by (wrappers, pipes and unions looked through). */
function childrenOf(schema: Walkable, key: PropertyKey | undefined, depth = 0): Walkable[] {
  const def = schema._zod.def;
  if (depth > 20) return [];
  const inner = [def.innerType, def.in, def.out, ...(def.options ?? []), def.getter?.()].filter((child) => child !== undefined);
  if (def.type === "object") return key === undefined ? [schema] : def.shape?.[String(key)] ? [def.shape[String(key)]!] : [];
  if (key !== undefined && def.type === "array") return def.element ? [def.element] : [];
  if (key !== undefined && def.type === "record") return def.valueType ? [def.valueType] : [];
  return inner.flatMap((child) => childrenOf(child, key, depth + 1));
}

/**
 * The keys an object schema accepts at `path` inside `schema` (a zod issue's path), for suggesting the
 * nearest one to an unknown key; empty when no object schema is found there.
 */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let current: Walkable[] = [schema as unknown as Walkable];
  for (const key of path) current = current.flatMap((candidate) => childrenOf(candidate, key));
  const objects = current.flatMap((candidate) => childrenOf(candidate, undefined));
  return [...new Set(objects.flatMap((object) => Object.keys(object._zod.def.shape ?? {})))];
}

/**
 * A zod failure as problems, one per issue at its field; an unknown key is one problem per key, with the
 * nearest key `schema` accepts there (`unknown key "timeout"; did you mean \`timeoutMs\`?`). `nameOf`
 * names each problem from the issue's path (and, for an unknown key, the key), as its caller words fields.
 */
export function issueProblems(
  error: z.ZodError,
  schema: z.ZodType | undefined,
  nameOf: (path: readonly PropertyKey[], unknownKey?: string) => string,
): InvalidParam[] {
  return error.issues.flatMap((issue) =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({
          name: nameOf(issue.path, key),
          reason: `unknown key "${key}"${didYouMean(key, schema ? keysAt(schema, issue.path) : [])}`,
        }))
      : [{ name: nameOf(issue.path), reason: issue.message }],
  );
}
