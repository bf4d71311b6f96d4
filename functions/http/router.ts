import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ZodError } from "zod";
import type { WaitUntil } from "../../lib/async/after";
import { describeInvalid, FanoutError, type InvalidParam } from "../../lib/base/errors";
import { issuePath } from "../../lib/base/schema";
import type { AppEnv } from "./env";

function validationError(error: ZodError, target: string): FanoutError {
  const invalidParams: InvalidParam[] = error.issues.map((issue) => ({
    name: issuePath(issue.path) || target,
    reason: issue.message,
  }));
  return new FanoutError("validation_failed", `invalid ${target}: ${describeInvalid(invalidParams)}`, { invalidParams });
}

/** Every route group is built with this, so a failed validation always becomes our 400 problem. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target);
    },
  });
}

/**
 * An integer path or query parameter whose every error message names the parameter and its bound. Only a
 * string is converted (as `z.coerce.number()` would), so null and a missing value are refused and the
 * documented schema is a plain required integer (coerce accepts null: it came out nullable and optional).
 */
export function integer(name: string, min: number, max: number) {
  return z.preprocess(
    (value) => (typeof value === "string" ? Number(value) : value),
    z
      .number({ error: `${name} must be a number` })
      .int(`${name} must be an integer`)
      .min(min, `${name} must be >= ${min}`)
      .max(max, `${name} must be <= ${max}`),
  );
}

/**
 * Streaming and bodyless answers are real Responses that the typed route helpers cannot describe;
 * the route's OpenAPI entry still documents them.
 */
export function untypedResponse(response: Response): never {
  return response as never;
}

/** The request's `ctx.waitUntil` as the plain function lib/ takes. */
export function waitUntilOf(c: Context): WaitUntil {
  return (promise) => c.executionCtx.waitUntil(promise);
}
