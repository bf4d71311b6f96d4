import { z } from "zod";
import type { InvalidParam } from "../base/errors";
import { issuePath, issueProblems, type Same } from "../base/schema";
import { didYouMean } from "../base/suggest";
import { conditionPathsOf } from "../batch/condition";
import { isInProcessUrl } from "../batch/in-process";
import { buildPlan } from "../batch/plan";
import { BATCH_MODES } from "../batch/scheduler";
import { oneKindPerStep, StepId, stepFields } from "../batch/schema";
import { ClientJson, PickPath } from "../batch/steps/fields";
import { collectReferences, INPUT_ROOTS, type LocatedReference } from "../batch/template";
import { type CompositeDefinition, PASS_STATUSES } from "./definition";
import { checkFallbackRule, checkFallbacks, Fallback } from "./fallback";
import { checkOutputFields } from "./fields";
import { checkForwardHeaders, ForwardHeaders } from "./forward";
import { Param } from "./params";

/**
 * The composites file (functions/composites.jsonc, read by source.ts): its schema, the checks across fields (every
 * reference, path parameter and varied header is declared), and the composites it yields. Loaded
 * once per isolate; `npm run check` runs the same checks offline.
 */

export const DEFAULT_PREFIX = "/v1/c/";

const Name = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "a name is 1-64 letters, digits or _, not starting with a digit");
const HeaderName = z
  .string()
  .regex(/^[a-z0-9-]{1,64}$/, "a header name in lower case")
  .refine((name) => !/^(authorization|proxy-authorization|cookie|cf-.*)$/.test(name), "this header is never visible to steps (secrets)");
const FieldPath = z.string().regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, "a dot path of field names (a.b.c)");

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
    negativeTtlSeconds: z.number().int().min(1).max(31_536_000).optional(),
    fallbackTtlSeconds: z.number().int().min(1).max(31_536_000).optional(),
  })
  .strict();

const CompositeStep = z
  .object({
    ...stepFields,
    required: z.boolean().default(true),
    notFoundWhen: z
      .union([z.literal("empty"), z.object({ empty: PickPath }).strict()], {
        error: 'notFoundWhen is "empty" or { "empty": "<path>" } (a path into the body, e.g. "[0]")',
      })
      .optional(),
    passStatus: z
      .array(
        z.union(
          PASS_STATUSES.map((status) => z.literal(status)),
          { error: `passStatus lists ${PASS_STATUSES.join(", ")}` },
        ),
      )
      .min(1)
      .max(PASS_STATUSES.length)
      .optional(),
    fallback: Fallback.optional(),
  })
  .strict()
  .superRefine(oneKindPerStep)
  .superRefine(checkStatusRules)
  .superRefine(checkFallbackRule);

/** `notFoundWhen` and `passStatus` decide a required step's answer; `passStatus` reads an upstream's status (an http step). */
function checkStatusRules(
  step: { required: boolean; http?: unknown; forEach?: unknown; notFoundWhen?: unknown; passStatus?: unknown },
  ctx: z.RefinementCtx,
): void {
  const issue = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
  if (step.notFoundWhen !== undefined && !step.required)
    issue("notFoundWhen", "notFoundWhen is for a required step (an optional one is left out)");
  if (step.passStatus === undefined) return;
  if (!step.required) issue("passStatus", "passStatus is for a required step (an optional one is left out)");
  if (step.http === undefined || step.forEach !== undefined)
    issue("passStatus", "passStatus reads an upstream's status: an http step without forEach");
}

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
    forwardHeaders: ForwardHeaders.optional(),
    cache: CachePolicy.optional(),
  })
  .strict()
  .superRefine(crossCheck);

type Declared = z.output<typeof Declaration>;
/** Adds one problem at a field of the composite. */
type Issue = (path: PropertyKey[], message: string) => void;

function crossCheck(composite: Declared, ctx: z.RefinementCtx): void {
  const issue: Issue = (path, message) => ctx.addIssue({ code: "custom", path, message });
  checkDeclarations(composite, issue);
  checkPlan(composite, issue);
  checkReferences(composite, issue);
  checkOutputFields(composite, issue);
  checkFallbacks(composite, issue);
  checkForwardHeaders(composite, issue);
}

/** Path parameters, the reserved debug param, varied headers, and what a step may call (public and demo composites). */
function checkDeclarations(composite: Declared, issue: Issue): void {
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
}

/** The batch's own checks (ids, references between steps, cycles), with room for any configured limit. */
function checkPlan(composite: Declared, issue: Issue): void {
  try {
    buildPlan(composite.steps, { maxSteps: 1000, subrequestBudget: 100_000, isInProcess: isInProcessUrl, inputRoots: INPUT_ROOTS });
  } catch (error) {
    const problems = (error as { invalidParams?: InvalidParam[] }).invalidParams ?? [];
    if (problems.length === 0) issue(["steps"], (error as Error).message);
    const ids = composite.steps.map((step) => step.id);
    const suggest = (reason: string) => reason.replace(/unknown step "([^"]*)"$/, (text, id: string) => text + didYouMean(id, ids));
    for (const problem of problems) issue([problem.name], suggest(problem.reason));
  }
}

/** References to the request's values must name something declared; output references must name steps. */
function checkReferences(composite: Declared, issue: Issue): void {
  const stepIds = new Set(composite.steps.map((step) => step.id));
  const queryParams = Object.entries(composite.params)
    .filter(([, param]) => param.in === "query")
    .map(([name]) => name);
  const declared: Record<string, readonly string[]> = {
    params: Object.keys(composite.params),
    query: queryParams,
    headers: composite.headers,
  };
  const checkInputs = (references: LocatedReference[], allowSteps: boolean) => {
    for (const reference of references) {
      const root = reference.root;
      if (INPUT_ROOTS.has(root)) {
        const name = reference.path[0];
        if (typeof name !== "string") issue([reference.at], `{{${reference.text}}}: name the value, as in {{${root}.name}}`);
        else if (!declared[root]!.includes(name))
          issue(
            [reference.at],
            `{{${reference.text}}}: no ${root === "headers" ? "header" : "param"} "${String(name)}" is declared${root === "query" ? " in the query" : ""}${didYouMean(name, declared[root]!)}`,
          );
      } else if (allowSteps && !stepIds.has(root))
        issue([reference.at], `{{${reference.text}}} refers to unknown step "${root}"${didYouMean(root, stepIds)}`);
    }
  };
  // A `when` reads paths, not {{references}}: a "{{...}}" inside it is a string literal.
  for (const [index, step] of composite.steps.entries()) {
    const when = conditionPathsOf(step.when, `steps[${index}].when`);
    checkInputs([...collectReferences({ ...step, when: undefined }, `steps[${index}]`), ...when], false);
  }
  for (const [name, template] of Object.entries(composite.output?.fields ?? {}))
    checkInputs(collectReferences(template, `output.fields.${name}`), true);
  for (const id of Object.keys(composite.output?.steps ?? {})) {
    if (!stepIds.has(id)) issue(["output", "steps", id], `no step "${id}"${didYouMean(id, stepIds)}`);
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

/** Each issue as a problem at its field; an unknown key is named itself (`composites.x.steps[0].requird`). */
function problemsOf(error: z.ZodError, schema: z.ZodType): InvalidParam[] {
  return issueProblems(error, schema, (path, unknownKey) => issuePath(unknownKey === undefined ? path : [...path, unknownKey]));
}

/**
 * Validates the composites file. Each composite is checked on its own, so one bad composite never
 * takes the others down; a file whose top level is invalid yields no composites and one broken entry.
 */
export function loadComposites(raw: unknown): CompositeCatalog {
  const file = CompositesFile.safeParse(raw);
  if (!file.success)
    return { prefix: DEFAULT_PREFIX, composites: [], broken: [{ name: "(file)", problems: problemsOf(file.error, CompositesFile) }] };
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
      const problems = parsed.success ? [] : problemsOf(parsed.error, Declaration);
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
