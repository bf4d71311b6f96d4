import { z } from "@hono/zod-openapi";
import type { InvalidParam } from "../../lib/base/errors";
import { HEADER_VALUE } from "../../lib/base/http";
import { isInProcessUrl } from "../../lib/batch/in-process";
import { buildPlan } from "../../lib/batch/plan";
import { BATCH_MODES } from "../../lib/batch/scheduler";
import { collectReferences, INPUT_ROOTS } from "../../lib/batch/template";
import { type CompositeDefinition, PARAM_TYPES, type ParamSpec, type ParamValue } from "../../lib/composite/definition";
import { issuePath, type Same } from "../http/router";
import { ClientJson, oneKindPerStep, PickPath, StepId, stepFields } from "./batch-schema";

/**
 * The composites file (functions/composites.json): its schema, the checks across fields (every
 * reference, path parameter and varied header is declared), and the per-request schema of each
 * composite's params. Loaded once per isolate; `npm run check` runs the same checks offline.
 */

export const DEFAULT_PREFIX = "/v1/c/";

const Name = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "a name is 1-64 letters, digits or _, not starting with a digit");
const HeaderName = z
  .string()
  .regex(/^[a-z0-9-]{1,64}$/, "a header name in lower case")
  .refine((name) => !/^(authorization|proxy-authorization|cookie|cf-.*)$/.test(name), "this header is never visible to steps (secrets)");
const FieldPath = z.string().regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, "a dot path of field names (a.b.c)");

const Param = z
  .object({
    in: z.enum(["path", "query"]).default("query"),
    type: z.enum(PARAM_TYPES),
    description: z.string().max(500).optional(),
    required: z.boolean().default(false),
    default: z.union([z.string(), z.number(), z.boolean()]).optional(),
    min: z.number().optional(),
    max: z.number().optional(),
    pattern: z.string().max(200).optional(),
    enum: z.array(z.string().min(1).max(200)).min(1).max(100).optional(),
  })
  .strict()
  .superRefine((param, ctx) => {
    if (param.in === "path" && param.default !== undefined)
      ctx.addIssue({ code: "custom", path: ["default"], message: "a path parameter has no default" });
    if (param.type !== "string" && (param.pattern !== undefined || param.enum !== undefined))
      ctx.addIssue({ code: "custom", path: ["type"], message: "pattern and enum are for string parameters" });
    if (param.min !== undefined && param.max !== undefined && param.min > param.max)
      ctx.addIssue({ code: "custom", path: ["min"], message: "min is above max" });
    if (param.pattern !== undefined) {
      try {
        new RegExp(param.pattern);
      } catch {
        ctx.addIssue({ code: "custom", path: ["pattern"], message: "not a valid regular expression" });
      }
    }
    if (param.default !== undefined) {
      const checked = paramSchema("default", { ...param, required: true, default: undefined }).safeParse(String(param.default));
      if (!checked.success)
        ctx.addIssue({
          code: "custom",
          path: ["default"],
          message: `the default is not a valid value: ${checked.error.issues[0]?.message}`,
        });
    }
  });

const ShapeRule = z
  .object({
    target: PickPath.optional(),
    allow: z.array(FieldPath).max(100).optional(),
    deny: z.array(FieldPath).max(100).optional(),
    rename: z.record(z.string().min(1).max(128), z.string().min(1).max(128)).optional(),
    group: z.string().min(1).max(128).optional(),
    merge: z.boolean().optional(),
  })
  .strict()
  .refine((rule) => !(rule.merge && rule.group !== undefined), "give group or merge, not both");

const Output = z
  .object({ steps: z.record(StepId, ShapeRule).optional(), fields: z.record(z.string().min(1).max(128), ClientJson).optional() })
  .strict();

const CachePolicy = z
  .object({
    ttlSeconds: z.number().int().min(1).max(31_536_000),
    staleWhileRevalidateSeconds: z.number().int().min(0).max(31_536_000).default(0),
    vary: z.array(HeaderName).max(10).default([]),
    perApiKey: z.boolean().default(false),
  })
  .strict();

const CompositeStep = z
  .object({
    ...stepFields,
    required: z.boolean().default(true),
  })
  .strict()
  .superRefine(oneKindPerStep);

const PATH = /^[a-z0-9][a-z0-9_-]*(\/(:[A-Za-z_][A-Za-z0-9_]{0,63}|[a-z0-9][a-z0-9_-]*))*$/;

const Declaration = z
  .object({
    path: z.string().max(256).regex(PATH, "lower-case segments separated by /, parameters written :name (users/:id/home)"),
    summary: z.string().max(200).optional(),
    description: z.string().max(2000).optional(),
    auth: z.enum(["none", "apiKey"]),
    demo: z.boolean().default(false),
    params: z.record(Name, Param).default({}),
    headers: z.array(HeaderName).max(20).default([]),
    steps: z.array(CompositeStep).min(1).max(1000),
    mode: z.enum(BATCH_MODES).default("allSettled"),
    concurrency: z.number().int().min(1).optional(),
    deadlineMs: z.number().int().min(1).optional(),
    output: Output.optional(),
    cache: CachePolicy.optional(),
  })
  .strict()
  .superRefine(crossCheck);

function crossCheck(composite: z.output<typeof Declaration>, ctx: z.RefinementCtx): void {
  const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: "custom", path, message });
  const pathParams = composite.path
    .split("/")
    .filter((segment) => segment.startsWith(":"))
    .map((segment) => segment.slice(1));
  for (const name of pathParams) {
    if (composite.params[name]?.in !== "path") issue(["path"], `:${name} needs a param "${name}" with "in": "path"`);
  }
  for (const [name, param] of Object.entries(composite.params)) {
    if (param.in === "path" && !pathParams.includes(name)) issue(["params", name], `the path has no :${name}`);
  }
  if (composite.params.debug) issue(["params", "debug"], "debug is reserved (?debug=1)");
  for (const name of composite.cache?.vary ?? []) {
    if (!composite.headers.includes(name)) issue(["cache", "vary"], `${name} must be listed in headers to be varied on`);
  }
  if (composite.cache?.perApiKey && composite.auth !== "apiKey") issue(["cache", "perApiKey"], "needs auth apiKey");
  // No route an anonymous caller can reach calls an upstream; relative /v1/sim/ URLs are the demo surface.
  composite.steps.forEach((step, index) => {
    if (step.http === undefined) return;
    const inProcess = step.http.url.startsWith("/");
    if (composite.auth === "none" && !inProcess) {
      issue(["steps", index, "http", "url"], 'a public composite (auth "none") calls no upstream: use auth "apiKey"');
    }
    if (inProcess && !composite.demo)
      issue(["steps", index, "http", "url"], 'relative /v1/sim/ URLs are the demo surface: mark the composite "demo": true');
  });

  // The batch's own checks (ids, references between steps, cycles), with room for any configured limit.
  try {
    buildPlan(composite.steps, { maxSteps: 1000, subrequestBudget: 100_000, isInProcess: isInProcessUrl, inputRoots: INPUT_ROOTS });
  } catch (error) {
    const problems = (error as { invalidParams?: InvalidParam[] }).invalidParams ?? [];
    if (problems.length === 0) issue(["steps"], (error as Error).message);
    for (const problem of problems) issue([problem.name], problem.reason);
  }

  // References to the request's values must name something declared; output references must name steps.
  const stepIds = new Set(composite.steps.map((step) => step.id));
  const queryParams = Object.entries(composite.params)
    .filter(([, param]) => param.in === "query")
    .map(([name]) => name);
  const declared: Record<string, readonly string[]> = {
    params: Object.keys(composite.params),
    query: queryParams,
    headers: composite.headers,
  };
  const checkInputs = (value: unknown, at: string, allowSteps: boolean) => {
    for (const reference of collectReferences(value, at)) {
      const root = reference.root;
      if (INPUT_ROOTS.has(root)) {
        const name = reference.path[0];
        if (typeof name !== "string") issue([reference.at], `{{${reference.text}}}: name the value, as in {{${root}.name}}`);
        else if (!declared[root]!.includes(name))
          issue(
            [reference.at],
            `{{${reference.text}}}: no ${root === "headers" ? "header" : "param"} "${String(name)}" is declared${root === "query" ? " in the query" : ""}`,
          );
      } else if (allowSteps && !stepIds.has(root)) issue([reference.at], `{{${reference.text}}} refers to unknown step "${root}"`);
    }
  };
  for (const [index, step] of composite.steps.entries()) checkInputs(step, `steps[${index}]`, false);
  for (const [name, template] of Object.entries(composite.output?.fields ?? {})) checkInputs(template, `output.fields.${name}`, true);
  for (const id of Object.keys(composite.output?.steps ?? {})) {
    if (!stepIds.has(id)) issue(["output", "steps", id], `no step "${id}"`);
  }
}

const CompositesFile = z
  .object({
    $schema: z.string().optional(),
    prefix: z
      .string()
      .regex(/^\/([a-z0-9_-]+\/)*$/, "a path that starts and ends with /")
      .default(DEFAULT_PREFIX),
    composites: z.record(z.string(), z.unknown()),
  })
  .strict();

/** A composite that failed validation: its name, its path when it has a usable one, and every problem. */
export interface BrokenComposite {
  name: string;
  path?: string;
  problems: InvalidParam[];
}

export interface CompositeCatalog {
  prefix: string;
  composites: CompositeDefinition[];
  broken: BrokenComposite[];
}

function problemsOf(error: z.ZodError): InvalidParam[] {
  return error.issues.map((issue) => ({
    name: issuePath(issue.path),
    reason: issue.message,
  }));
}

/**
 * Validates the composites file. Each composite is checked on its own, so one bad composite never
 * takes the others down; a file whose top level is invalid yields no composites and one broken entry.
 */
export function loadComposites(raw: unknown): CompositeCatalog {
  const file = CompositesFile.safeParse(raw);
  if (!file.success) return { prefix: DEFAULT_PREFIX, composites: [], broken: [{ name: "(file)", problems: problemsOf(file.error) }] };
  const composites: CompositeDefinition[] = [];
  const broken: BrokenComposite[] = [];
  const paths = new Map<string, string>();
  for (const [name, declaration] of Object.entries(file.data.composites)) {
    const path = (declaration as { path?: unknown } | null)?.path;
    const usablePath = typeof path === "string" && PATH.test(path) ? path : undefined;
    if (!Name.safeParse(name).success) {
      broken.push({ name, path: usablePath, problems: [{ name: "name", reason: "a name is 1-64 letters, digits or _" }] });
      continue;
    }
    const parsed = Declaration.safeParse(declaration);
    const clash = usablePath === undefined ? undefined : paths.get(usablePath.replace(/:[^/]+/g, ":"));
    if (!parsed.success || clash !== undefined) {
      const problems = parsed.success ? [] : problemsOf(parsed.error);
      if (clash !== undefined) problems.push({ name: "path", reason: `the same path as composite "${clash}"` });
      broken.push({ name, ...(usablePath && clash === undefined ? { path: usablePath } : {}), problems });
      continue;
    }
    paths.set(parsed.data.path.replace(/:[^/]+/g, ":"), name);
    composites.push({ name, ...parsed.data });
  }
  return { prefix: file.data.prefix, composites, broken };
}

true satisfies Same<Omit<CompositeDefinition, "name">, z.output<typeof Declaration>>;

/** What a missing, repeated (`?a=1&a=2`) or otherwise wrong raw value is told. */
function rawValueError(name: string, otherwise: string) {
  return (issue: { input?: unknown }) =>
    issue.input === undefined ? `${name} is required` : Array.isArray(issue.input) ? `${name} must be given once` : otherwise;
}

/** The request-time schema of one param: raw text in, the typed value out; every message names the param and its rule. */
export function paramSchema(name: string, spec: ParamSpec) {
  const { min, max } = spec;
  const text = () => z.string({ error: rawValueError(name, `${name} must be text`) });
  let schema: z.ZodType<ParamValue, string>;
  switch (spec.type) {
    case "integer":
    case "number": {
      let number = z.number({ error: `${name} must be a number` });
      if (spec.type === "integer") number = number.int(`${name} must be an integer`);
      if (min !== undefined) number = number.min(min, `${name} must be >= ${min}`);
      if (max !== undefined) number = number.max(max, `${name} must be <= ${max}`);
      const shape = spec.type === "integer" ? /^-?\d{1,16}$/ : /^-?(\d{1,16}(\.\d{1,16})?|\.\d{1,16})(e[+-]?\d{1,3})?$/i;
      schema = text()
        .regex(shape, `${name} must be ${spec.type === "integer" ? "an integer" : "a number"}`)
        .transform(Number)
        .pipe(number)
        .openapi({ type: spec.type, ...(min === undefined ? {} : { minimum: min }), ...(max === undefined ? {} : { maximum: max }) });
      break;
    }
    case "boolean":
      schema = z
        .enum(["true", "false"], { error: rawValueError(name, `${name} must be true or false`) })
        .transform((value) => value === "true")
        .openapi({ type: "boolean" });
      break;
    default: {
      let value = text().regex(HEADER_VALUE, `${name} must be printable ASCII`);
      value = value
        .min(min ?? 0, `${name} must be at least ${min} characters`)
        .max(max ?? 1024, `${name} must be at most ${max ?? 1024} characters`);
      if (spec.pattern !== undefined) value = value.regex(new RegExp(`^(?:${spec.pattern})$`), `${name} must match ${spec.pattern}`);
      schema = spec.enum ? value.refine((given) => spec.enum!.includes(given), `${name} must be one of ${spec.enum.join(", ")}`) : value;
    }
  }
  const described = schema.openapi({
    ...(spec.description ? { description: spec.description } : {}),
    ...(spec.default !== undefined ? { default: spec.default as string } : {}),
    ...(spec.enum ? { enum: spec.enum } : {}),
  });
  if (spec.in === "path" || spec.required) return described;
  if (spec.default !== undefined) return described.optional().transform((value) => value ?? spec.default!);
  return described.optional();
}
