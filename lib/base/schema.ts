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
