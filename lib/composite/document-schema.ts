import { parsePickPath } from "../batch/template";
import type { CompositeDefinition, CompositeStep, ShapeRule } from "./definition";
import { concatSourcesOf } from "./fields";

/**
 * A composite's document as a JSON Schema (2020-12, as OpenAPI 3.1 takes it), derived from its
 * `output` declaration: the 200 answer of its OpenAPI operation, so a generated client knows that
 * `data.user.name` may be there. It describes and never refuses: every property is optional (an
 * optional step that fails is left out), a value read from upstream data is `{}` (any JSON) unless
 * the declaration says more, and no object is closed (no `additionalProperties: false`), so fallback
 * data, an upstream's surprise or an output form this file does not know still validates. What it
 * knows of a body before shaping: a d1 step answers its rows (lib/batch/steps/d1.ts: D1's `results`,
 * an array of objects); a forEach step, bulk or not, an array of one entry per item (a step that succeeded
 * has every item's); any other body is unknown.
 */

/** The JSON Schema keywords written here (a type literal, so OpenAPI's schema types, open to `x-` keys, take it). */
export type DocumentSchema = {
  type?: "object" | "array";
  properties?: Record<string, DocumentSchema>;
  items?: DocumentSchema;
  description?: string;
};

/** What is known of a value before it is shaped: nothing, a d1 step's rows (objects in an array), one row, or a forEach's entries (an array of any JSON). */
type Known = "unknown" | "rows" | "row" | "entries";

const RULE_KEYS = new Set(["target", "allow", "deny", "rename", "group", "merge"]);
const OUTPUT_KEYS = new Set(["steps", "fields"]);

const DESCRIPTION =
  "The composite's document, derived from its output declaration. Every field is optional: an optional step " +
  "that fails is left out (fanout-incomplete names it). Values taken from upstream data are any JSON unless " +
  "the declaration selects fields. With ?debug=1 (admin keys) the answer is the debug envelope instead.";

/** A step's body: a forEach's entries, rows for a plain d1 step (fallback data could be anything else). */
function bodyOf(step: CompositeStep | undefined): Known {
  if (step === undefined || step.fallback !== undefined) return "unknown";
  if (step.forEach !== undefined) return "entries";
  return step.d1 ? "rows" : "unknown";
}

/** What `target` leaves of a body: `[n]` of rows is a row, `[*]` the rows (or entries) again; any other path reads data. */
function targeted(known: Known, target: string | undefined): Known {
  if (target === undefined) return known;
  const segments = parsePickPath(target);
  if ((known !== "rows" && known !== "entries") || segments.length !== 1) return "unknown";
  if (segments[0] === "*") return known;
  return typeof segments[0] === "number" && known === "rows" ? "row" : "unknown";
}

/** A node of the allowed fields: its own child fields, by name (a Map, so any field name is data). */
type FieldTree = Map<string, FieldTree>;

function treeSchema(tree: FieldTree, type?: "object"): DocumentSchema {
  if (tree.size === 0 && type === undefined) return {};
  const properties = Object.fromEntries([...tree].map(([name, child]) => [name, treeSchema(child)]));
  return { ...(type ? { type } : {}), ...(tree.size > 0 ? { properties } : {}) };
}

/** The fields an object keeps under a rule (allow, then deny, then rename), or undefined when the data decides. */
function keptFields(rule: ShapeRule): FieldTree | undefined {
  if (rule.allow === undefined) return undefined;
  const root: FieldTree = new Map();
  for (const path of rule.allow) {
    let node = root;
    for (const name of path.split(".")) {
      if (!node.has(name)) node.set(name, new Map());
      node = node.get(name)!;
    }
  }
  for (const path of rule.deny ?? []) {
    const names = path.split(".");
    let parent: FieldTree | undefined = root;
    for (const name of names.slice(0, -1)) parent = parent?.get(name);
    parent?.delete(names.at(-1)!);
  }
  const renamed: FieldTree = new Map();
  for (const [name, child] of root) {
    const to = rule.rename && Object.hasOwn(rule.rename, name) ? rule.rename[name]! : name;
    // Two fields renamed onto one name: either may win, so nothing is said of its fields.
    renamed.set(to, renamed.has(to) ? new Map() : child);
  }
  return renamed;
}

/** The schema of one step's shaped value (a collection has each element shaped, as shape.ts does). */
function shapedSchema(step: CompositeStep | undefined, rule: ShapeRule): DocumentSchema {
  if (Object.keys(rule).some((key) => !RULE_KEYS.has(key))) return {};
  const known = targeted(bodyOf(step), rule.target);
  const fields = keptFields(rule) ?? new Map();
  if (known === "rows") return { type: "array", items: treeSchema(fields, "object") };
  // An entry may be any JSON (allow shapes the objects among them): its selected fields, never its type.
  if (known === "entries") return fields.size > 0 ? { type: "array", items: treeSchema(fields) } : { type: "array" };
  if (known === "row") return treeSchema(fields, "object");
  return treeSchema(fields);
}

/** The document's properties as they are written, later ones over earlier; a name written twice may hold either. */
class Properties {
  readonly #byName = new Map<string, DocumentSchema>();
  set(name: string, schema: DocumentSchema): void {
    this.#byName.set(name, this.#byName.has(name) ? {} : schema);
  }
  toObject(): Record<string, DocumentSchema> {
    return Object.fromEntries(this.#byName);
  }
}

/**
 * The JSON Schema of a composite's 200 document, for its OpenAPI operation: the groups its steps'
 * rules write (each step under its id without `output`), the fields a merge brings to the root, and
 * the template fields (a `concat` field is an array). Permissive by construction: see the file's comment.
 */
export function documentSchemaOf(definition: Pick<CompositeDefinition, "steps" | "output">): DocumentSchema {
  const open: DocumentSchema = { type: "object", description: DESCRIPTION };
  const output = definition.output;
  if (output && Object.keys(output).some((key) => !OUTPUT_KEYS.has(key))) return open;
  const stepById = new Map(definition.steps.map((step) => [step.id, step]));
  const rules: Array<[string, ShapeRule]> = output
    ? Object.entries(output.steps ?? {})
    : definition.steps.map((step) => [step.id, {} satisfies ShapeRule]);
  const properties = new Properties();
  for (const [id, rule] of rules) {
    const shaped = shapedSchema(stepById.get(id), rule);
    if (rule.merge !== true) properties.set(typeof rule.group === "string" ? rule.group : id, shaped);
    else for (const [name, schema] of Object.entries(shaped.properties ?? {})) properties.set(name, schema);
  }
  for (const [name, field] of Object.entries(output?.fields ?? {})) properties.set(name, concatSourcesOf(field) ? { type: "array" } : {});
  const written = properties.toObject();
  return Object.keys(written).length > 0 ? { ...open, properties: written } : open;
}
