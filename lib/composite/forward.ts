import { z } from "zod";
import { HEADER_VALUE } from "../base/http";
import { didYouMean } from "../base/suggest";
import type { StepResult } from "../batch/scheduler";
import type { CompositeDefinition } from "./definition";

/**
 * Forwarded headers: a composite's allow-list of upstream response headers passed on to its client,
 * each read from one named http step (`"forwardHeaders": { "x-ratelimit-remaining": "orders" }`). Only
 * when that step succeeded (a fallback has no upstream headers), only on a 200 (and its 304), stored
 * and replayed with a cached answer. Hop-by-hop headers, cookies and the headers fanout sets itself
 * can never be forwarded.
 */

/** The most headers one composite may forward. */
export const MAX_FORWARDED_HEADERS = 10;
/** A longer upstream value is not forwarded (as a request header's value is refused past the same length). */
export const MAX_FORWARDED_VALUE_CHARS = 1024;

/** Names that are never forwarded, each with why. */
const NEVER_FORWARDED: ReadonlyArray<[RegExp, string]> = [
  [/^(connection|keep-alive|proxy-.*|te|trailer|transfer-encoding|upgrade)$/, "a hop-by-hop header"],
  [/^(set-cookie2?|cookie|authorization|www-authenticate)$/, "credentials and cookies are never forwarded"],
  [
    /^(fanout-.*|x-fanout-.*|content-(type|length|encoding|range)|etag|last-modified|cache-control|cache-status|age|vary|expires|pragma|date|location|x-request-id|server-timing|access-control-.*|cf-.*)$/,
    "fanout sets this header itself",
  ],
];

/** Why a name cannot be forwarded, or undefined when it can. */
function nameProblem(name: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(name)) return "a header name in lower case (1-64 letters, digits and -)";
  const refused = NEVER_FORWARDED.find(([pattern]) => pattern.test(name));
  return refused && `${name} cannot be forwarded: ${refused[1]}`;
}

/** `forwardHeaders`: header name -> the id of the http step it is read from. */
export const ForwardHeaders = z
  // Names are checked by checkForwardHeaders: a record's key schema would only say "Invalid key in record".
  .record(z.string(), z.string().min(1).max(64))
  .refine((headers) => Object.keys(headers).length <= MAX_FORWARDED_HEADERS, {
    message: `at most ${MAX_FORWARDED_HEADERS} headers (MAX_FORWARDED_HEADERS)`,
  });

type Issue = (path: PropertyKey[], message: string) => void;

/** Each forwarded header has a name that may be forwarded, from a step that calls an upstream once (an http step without forEach). */
export function checkForwardHeaders(composite: Omit<CompositeDefinition, "name">, issue: Issue): void {
  const steps = new Map(composite.steps.map((step) => [step.id, step]));
  for (const [name, id] of Object.entries(composite.forwardHeaders ?? {})) {
    const step = steps.get(id);
    const problem = nameProblem(name);
    if (problem) issue(["forwardHeaders", name], problem);
    if (step === undefined) issue(["forwardHeaders", name], `no step "${id}"${didYouMean(id, steps.keys())}`);
    else if (step.http === undefined || step.forEach !== undefined)
      issue(["forwardHeaders", name], `step "${id}" is not an http step without forEach: only one upstream answer has headers to forward`);
  }
}

/** The forwarded headers of one run: each declared one its step's upstream answered with (a valid value within the length limit). */
export function forwardedHeaders(
  declared: Readonly<Record<string, string>> | undefined,
  results: Readonly<Record<string, StepResult>>,
): Record<string, string> {
  const forwarded: Record<string, string> = {};
  for (const [name, id] of Object.entries(declared ?? {})) {
    const headers = results[id]?.ok ? results[id].headers : undefined;
    // Own fields only: a header named `constructor` is a header, never Object.prototype's.
    const value = headers && Object.hasOwn(headers, name) ? headers[name] : undefined;
    if (value !== undefined && value.length <= MAX_FORWARDED_VALUE_CHARS && HEADER_VALUE.test(value)) forwarded[name] = value;
  }
  return forwarded;
}
