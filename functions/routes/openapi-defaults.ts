/**
 * Request defaults said in words. zod marks a `.default()` field of a request schema optional, and so
 * does the document (`mode` and `http.method` are not `required`), but openapi-typescript reads a
 * `default` on a property of a *component* as "always present" (right for an answer, which the server
 * fills in) and would make every client send them; only schemas written inline in a request body or a
 * parameter escape that reading. So in the components that only requests use (BatchRequest, the step
 * kinds, Callback), each default moves into its property's description: generated clients may leave
 * the field out, readers still see the value. A component an answer uses keeps its `default`.
 */

type Json = Record<string, unknown>;

const REF_PREFIX = "#/components/schemas/";

/** The component names `value` refers to, directly. */
function refsIn(value: unknown, into: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) for (const item of value) refsIn(item, into);
  else if (value && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (key === "$ref" && typeof item === "string" && item.startsWith(REF_PREFIX)) into.add(item.slice(REF_PREFIX.length));
      else refsIn(item, into);
    }
  }
  return into;
}

/** Every component reachable from `roots` through other components. */
function reachable(roots: Set<string>, schemas: Record<string, unknown>): Set<string> {
  const seen = new Set<string>();
  const pending = [...roots];
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    pending.push(...refsIn(schemas[name]));
  }
  return seen;
}

/** The schema keywords whose values are schemas (a `properties` map holds schemas by field name). */
const SUBSCHEMA_KEYWORDS = ["items", "additionalProperties", "not"] as const;
const SUBSCHEMA_LIST_KEYWORDS = ["oneOf", "anyOf", "allOf", "prefixItems"] as const;

/** Moves each `default` of a schema and of the schemas inside it into its description. */
function defaultsIntoDescriptions(schema: unknown): void {
  if (!schema || typeof schema !== "object" || Array.isArray(schema)) return;
  const node = schema as Json;
  if ("default" in node) {
    const said = typeof node.default === "string" ? node.default : JSON.stringify(node.default);
    node.description = typeof node.description === "string" ? `${node.description}; default ${said}` : `Default ${said}`;
    delete node.default;
  }
  for (const child of Object.values((node.properties as Json | undefined) ?? {})) defaultsIntoDescriptions(child);
  for (const keyword of SUBSCHEMA_KEYWORDS) defaultsIntoDescriptions(node[keyword]);
  for (const keyword of SUBSCHEMA_LIST_KEYWORDS)
    for (const child of (node[keyword] as unknown[] | undefined) ?? []) defaultsIntoDescriptions(child);
}

/** In the components only request bodies and parameters use, each `default` becomes words in its description. */
export function requestDefaultsInWords<D extends { paths?: unknown; components?: { schemas?: unknown } }>(document: D): D {
  const schemas = (document.components?.schemas ?? {}) as Record<string, unknown>;
  const requestRoots = new Set<string>();
  const answerRoots = new Set<string>();
  for (const item of Object.values((document.paths ?? {}) as Record<string, Json>)) {
    for (const operation of Object.values(item)) {
      if (!operation || typeof operation !== "object") continue;
      const { responses, ...request } = operation as Json;
      refsIn(request, requestRoots);
      refsIn(responses, answerRoots);
    }
  }
  const components = (document.components ?? {}) as Json;
  refsIn([components.requestBodies, components.parameters], requestRoots);
  refsIn([components.responses, components.headers], answerRoots);
  const answers = reachable(answerRoots, schemas);
  for (const name of reachable(requestRoots, schemas)) if (!answers.has(name)) defaultsIntoDescriptions(schemas[name]);
  return document;
}
