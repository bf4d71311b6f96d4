import { z } from "zod";
import { FanoutError, type InvalidParam } from "../base/errors";
import { pick } from "./steps/http-body";
import type { HttpSpec } from "./steps/http-call";
import type { StepOutput } from "./steps/output";
import { followPath, type PathSegment, parsePickPath } from "./template";

/**
 * Bulk calls: a forEach's `batch` option sends its items `size` at a time in one upstream call, as a
 * repeated query parameter (`?id=1&id=2`) or as a JSON array placed in the body, and maps each
 * element of the answer back to its item by `matchBy` (DataLoader's contract). N items become
 * ceil(N / size) calls (duplicate items are sent once), so they cost ceil(N / size) subrequests and
 * slots; the forEach's result keeps its shape: one body per item, in order, an item that no element
 * matched being `not_found`.
 */

/** A forEach's bulk option, as validated. */
export interface BulkOption {
  /** Items per call, 1..MAX_BULK_SIZE (and at most MAX_STEPS, checked with the plan). */
  size: number;
  /** The query parameter repeated once per item (`?id=1&id=2`); exactly one of param and bodyPath. */
  param?: string;
  /** Where the items' array goes in the JSON body (`ids`, `filter.ids`); the step's body, if any, is an object. */
  bodyPath?: string;
  /** The path in each element of the answer that holds its item's key (`id`, `user.id`). */
  matchBy: string;
  /** Where the answer's array is (`data` for `{ "data": [...] }`); the body itself when absent. */
  resultsPath?: string;
}

/** The one step kind whose forEach can be sent in bulk calls. */
export const BULK_KIND = "http";

/** The most items one call may carry: as many as a forEach may list (and the most MAX_STEPS may be). */
export const MAX_BULK_SIZE = 1000;

/** A path option: it parses (`a.b[0].c`), names one value (no `[*]`), and, for a place to write, only field names. */
function pathField(field: string, { fieldsOnly = false } = {}) {
  return z
    .string()
    .min(1, `${field} is a path such as "id" or "user.id"`)
    .max(256)
    .superRefine((path, ctx) => {
      let segments: PathSegment[];
      try {
        segments = parsePickPath(path);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as FanoutError).detail.replace(/^pick path/, `${field} path`) });
        return;
      }
      if (segments.includes("*")) ctx.addIssue({ code: "custom", message: `${field} names one value: [*] is not allowed` });
      else if (fieldsOnly && segments.some((segment) => typeof segment === "number"))
        ctx.addIssue({ code: "custom", message: `${field} is a path of field names (the body is built as objects), no [n]` });
    });
}

export const BulkCalls = z
  .object({
    size: z
      .number()
      .int()
      .min(1, "at least 1 item per call")
      .max(MAX_BULK_SIZE, `at most ${MAX_BULK_SIZE} items per call (and at most MAX_STEPS)`)
      .meta({ description: "Items per call: N items take ceil(N / size) calls (at most MAX_STEPS items per call)" }),
    param: z
      .string()
      .regex(/^[A-Za-z0-9_.[\]-]{1,128}$/, "a query parameter name: 1-128 letters, digits, _ . - [ ]")
      .optional()
      .meta({ description: "The query parameter repeated once per item (?id=1&id=2); exactly one of param and bodyPath" }),
    bodyPath: pathField("bodyPath", { fieldsOnly: true })
      .optional()
      .meta({ description: "Where the items go, as a JSON array, in the body (ids, filter.ids); the body, if any, is an object" }),
    matchBy: pathField("matchBy").meta({ description: "The path in each element of the answer that holds its item (id, user.id)" }),
    resultsPath: pathField("resultsPath")
      .optional()
      .meta({ description: "Where the answer's array of elements is (data for { data: [...] }); the answer itself when absent" }),
  })
  .strict()
  .superRefine((bulk, ctx) => {
    if ((bulk.param === undefined) === (bulk.bodyPath === undefined))
      ctx.addIssue({ code: "custom", message: "exactly one of param (a repeated query parameter) or bodyPath (an array in the body)" });
  })
  .meta({
    description:
      "http steps with forEach only: send the items `size` at a time, as a repeated query parameter (`param`) or as a JSON array at " +
      "`bodyPath` in the body, and give each item the element of the answer whose `matchBy` equals it (items are strings or numbers, " +
      "the keys; duplicates are sent once); an item no element matches is not_found. Costs ceil(items / size) calls",
    examples: [{ size: 25, param: "id", matchBy: "id" }],
  }) satisfies z.ZodType<BulkOption>;

/** How many upstream calls `items` items take: one each, or ceil(items / size) with a bulk option. */
export function callsFor(items: number, bulk: BulkOption | undefined): number {
  return bulk ? Math.ceil(items / bulk.size) : items;
}

/** What the plan checks of a step's bulk option (its kind, its forEach, its method and body, MAX_STEPS), each named by field. */
export function bulkProblems(
  step: { batch?: BulkOption; forEach?: unknown; http?: HttpSpec },
  index: number,
  kind: string,
  maxSteps: number,
): InvalidParam[] {
  const bulk = step.batch;
  const problems: InvalidParam[] = [];
  if (bulk === undefined) return problems;
  const at = `steps[${index}].batch`;
  if (kind !== BULK_KIND) return [{ name: at, reason: `only an http step can send its items in bulk calls (this is a ${kind} step)` }];
  if (step.forEach === undefined) problems.push({ name: at, reason: "batch groups a forEach's items into calls: the step has no forEach" });
  if (bulk.size > maxSteps) problems.push({ name: `${at}.size`, reason: `at most ${maxSteps} items per call (MAX_STEPS)` });
  // A valid step has exactly one kind: this one is http.
  const { method, body } = step.http!;
  if (bulk.bodyPath !== undefined && (method === "GET" || method === "HEAD"))
    problems.push({ name: `${at}.bodyPath`, reason: `a ${method} request has no body: use param, or a method with a body (POST)` });
  const oneReference = typeof body === "string" && /^\{\{[^{}]*\}\}$/.test(body);
  if (bulk.bodyPath !== undefined && body !== undefined && !isObject(body) && !oneReference)
    problems.push({
      name: `steps[${index}].http.body`,
      reason: "with batch.bodyPath the body is a JSON object the items' array is placed in",
    });
  return problems;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** An item's key as it is matched: strings and finite numbers alike by their text (a query parameter has no type). */
function keyOf(item: unknown): string | undefined {
  if (typeof item === "string") return item;
  if (typeof item === "number" && Number.isFinite(item)) return String(item);
  return undefined;
}

/** A forEach's items grouped into calls: each call's keys (first occurrence, as written), and each item's key. */
export interface BulkGrouping {
  items: readonly unknown[];
  calls: Array<Array<string | number>>;
  /** Per item, its key, or undefined when it is not a string or finite number (it gets an error, not a call). */
  keys: Array<string | undefined>;
  /** Per key, the index of the call that carries it. */
  callOf: Map<string, number>;
}

/** Groups items into calls of `size` distinct keys, in order of first appearance. */
export function groupItems(items: readonly unknown[], size: number): BulkGrouping {
  const calls: Array<Array<string | number>> = [];
  const callOf = new Map<string, number>();
  const keys = items.map((item) => {
    const key = keyOf(item);
    if (key === undefined || callOf.has(key)) return key;
    if (calls.length === 0 || calls[calls.length - 1]!.length === size) calls.push([]);
    calls[calls.length - 1]!.push(item as string | number);
    callOf.set(key, calls.length - 1);
    return key;
  });
  return { items, calls, keys, callOf };
}

/**
 * The http spec of one bulk call: the keys as a repeated query parameter, or as an array at bodyPath
 * in the body. `pick` is left out: it applies to each matched element (itemOutputs), not to the array.
 * @throws FanoutError `validation_failed` when the rendered body has no object where bodyPath goes.
 */
export function bulkCallSpec(spec: HttpSpec, keys: ReadonlyArray<string | number>, bulk: BulkOption): HttpSpec {
  const { pick: _perElement, ...call } = spec;
  if (bulk.param !== undefined) {
    const name = encodeURIComponent(bulk.param);
    const query = keys.map((key) => `${name}=${encodeURIComponent(String(key))}`).join("&");
    const hashAt = call.url.indexOf("#");
    const [base, hash] = hashAt < 0 ? [call.url, ""] : [call.url.slice(0, hashAt), call.url.slice(hashAt)];
    const joiner = !base.includes("?") ? "?" : /[?&]$/.test(base) ? "" : "&";
    return { ...call, url: `${base}${joiner}${query}${hash}` };
  }
  const segments = parsePickPath(bulk.bodyPath!) as string[];
  const body = call.body === undefined ? {} : structuredClone(call.body);
  let parent: unknown = body;
  for (const [i, segment] of segments.entries()) {
    if (!isObject(parent)) {
      const at = segments.slice(0, i).join(".") || "the top";
      throw new FanoutError("validation_failed", `batch.bodyPath "${bulk.bodyPath}": the body has no object at "${at}"`);
    }
    // Own properties only, defined rather than assigned: a path through "__proto__" makes a field of that name, never a prototype.
    const next = i === segments.length - 1 ? [...keys] : Object.hasOwn(parent, segment) ? parent[segment] : {};
    Object.defineProperty(parent, segment, { value: next, enumerable: true, writable: true, configurable: true });
    parent = next;
  }
  return { ...call, body };
}

/** Each item's output, in order, from the outputs of the calls that carried them (`calls[i]` for grouping.calls[i]). */
export function itemOutputs(
  grouping: BulkGrouping,
  calls: readonly StepOutput[],
  bulk: BulkOption,
  picked: readonly string[] | undefined,
): StepOutput[] {
  const answers = calls.map((call) => (call.ok ? elementsOf(call.body, bulk) : undefined));
  return grouping.keys.map((key, position): StepOutput => {
    const item = grouping.items[position];
    if (key === undefined) {
      const message = `a bulk forEach's item is the key it sends and matches: a string or a finite number, not ${item === null ? "null" : typeof item}`;
      return { ok: false, error: { code: "validation_failed", message } };
    }
    const index = grouping.callOf.get(key)!;
    const call = calls[index]!;
    const answer = answers[index];
    const { status, attempts, coalesced } = call;
    // The call failed: each of its items fails alike.
    if (answer === undefined) return { ok: false, status, attempts, coalesced, error: call.error, body: null };
    if (typeof answer === "string")
      return { ok: false, status, attempts, coalesced, error: { code: "validation_failed", message: answer }, body: null };
    if (!answer.has(key)) {
      const message = `no element of the answer has ${bulk.matchBy} = ${JSON.stringify(key)} (batch.matchBy)`;
      return { ok: false, status, attempts, coalesced, error: { code: "not_found", message }, body: null };
    }
    const element = answer.get(key);
    return { ok: true, status, attempts, coalesced, body: picked ? pick(element, picked) : element };
  });
}

const absent = (): never => {
  throw new Error("absent");
};

/** An answer's elements by their matchBy key (the first of duplicates wins), or why it holds no array to match. */
function elementsOf(body: unknown, bulk: BulkOption): Map<string, unknown> | string {
  let found: unknown;
  try {
    found = bulk.resultsPath === undefined ? body : followPath(body, parsePickPath(bulk.resultsPath), absent);
  } catch {
    found = undefined;
  }
  if (!Array.isArray(found)) {
    const where = bulk.resultsPath === undefined ? "the answer" : `the answer's ${bulk.resultsPath}`;
    return `${where} is not an array of elements to match (batch.resultsPath says where it is)`;
  }
  const matchBy = parsePickPath(bulk.matchBy);
  const byKey = new Map<string, unknown>();
  for (const element of found) {
    let key: string | undefined;
    try {
      key = keyOf(followPath(element, matchBy, absent));
    } catch {
      continue; // an element without the key matches no item
    }
    if (key !== undefined && !byKey.has(key)) byKey.set(key, element);
  }
  return byKey;
}
