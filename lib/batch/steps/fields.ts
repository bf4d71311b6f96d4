import { z } from "zod";
import type { Config } from "../../base/config";
import { MAX_JSON_DEPTH, nestedDeeperThan, parsePickPath } from "../template";
import type { SpecProblem } from "./kind";

/** Schema pieces several step kinds (and the composites file) share: plain zod, `.meta()` for the document. */

/** A whole number of ms from 0 to `max`. */
export const ms = (max: number) => z.number().int().min(0).max(max);

// A URL that starts with a reference gets its scheme at run time, where the allow-list checks it.
export const StepUrl = z
  .string()
  .min(1)
  .max(4096)
  .refine(
    (url) => url.startsWith("/v1/sim/") || /^https?:\/\//i.test(url) || url.startsWith("{{"),
    "an absolute http(s) URL, a relative /v1/sim/... path served in-process, or a URL that starts with a {{reference}}",
  )
  .meta({ example: "https://api.example.com/users/{{user.body.id}}" });

/** A JSON value from the client (a step body, a forEach item), at most MAX_JSON_DEPTH levels deep. */
export const ClientJson = z.unknown().superRefine((value, ctx) => {
  if (nestedDeeperThan(value, MAX_JSON_DEPTH)) ctx.addIssue({ code: "custom", message: `nested deeper than ${MAX_JSON_DEPTH} levels` });
});

export const PickPath = z
  .string()
  .min(1)
  .max(256)
  .superRefine((path, ctx) => {
    try {
      parsePickPath(path);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
    }
  });

/** No problem found (shared, so a check that passes allocates nothing). */
export const NO_PROBLEMS: readonly SpecProblem[] = [];

/** Relative /v1/sim/ URLs are the demo surface: refused while DEMO_ENABLED is off (the one rule for every kind with a URL). */
export function demoUrlProblems(url: string, config: Config): readonly SpecProblem[] {
  return url.startsWith("/") && !config.DEMO_ENABLED
    ? [{ field: "url", reason: "relative /v1/sim/ URLs are the demo surface, which is off (DEMO_ENABLED)" }]
    : NO_PROBLEMS;
}
