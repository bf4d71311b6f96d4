import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { ZodError } from "zod";
import type { WaitUntil } from "../../lib/async/after";
import { describeInvalid, FanoutError } from "../../lib/base/errors";
import { issuePath, issueProblems } from "../../lib/base/schema";
import type { AppEnv } from "./env";

/** What a validation target is called in messages: a JSON body that parsed but does not fit is the "body", never "json". */
const TARGET_NAMES: Record<string, string> = { json: "body" };

/**
 * A zod failure as our 400: each issue at its field, an unknown key named with the nearest key `schema`
 * accepts there. `noun` words the detail (`invalid batch: steps[0].http: unknown key "timeout"; ...`).
 */
function validationError(error: ZodError, target: string, schema?: z.ZodType, noun?: string): FanoutError {
  const named = TARGET_NAMES[target] ?? target;
  // An unknown key is named by the object that holds it (`steps[0].http`), the body's own by the target.
  const invalidParams = issueProblems(error, schema, (path) => issuePath(path) || named);
  return new FanoutError("validation_failed", `invalid ${noun ?? named}: ${describeInvalid(invalidParams)}`, { invalidParams });
}

/**
 * The hook of a route whose request `schema` is given: its 400 suggests the nearest key for an unknown
 * one, and its detail names the `noun` ("batch"). Routes without one get the default hook.
 */
export function validationHook(schema?: z.ZodType, noun?: string) {
  return (result: { success: true } | { success: false; error: ZodError; target: string }): undefined => {
    if (!result.success) throw validationError(result.error, result.target, schema, noun);
    return undefined;
  };
}

/** Every route group is built with this, so a failed validation always becomes our 400 problem. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook() });
}

/** Hono's validator's test for a JSON media type: the same bodies are parsed here. */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * Parses a JSON body before the route's validator does, so a body that is not JSON is told apart from
 * one that does not fit: `invalid json:` with the parser's message (it is the client's own text), where
 * the validator would only say "Malformed JSON". Reading the body still goes through any body limit.
 */
export const parseJsonBody = createMiddleware(async (c, next) => {
  const mediaType = (c.req.header("content-type") ?? "").split(";")[0]!.trim();
  if (JSON_MEDIA_TYPE.test(mediaType)) {
    try {
      await c.req.json();
    } catch (error) {
      // The parser quotes at most a few characters of the body, the client's own. A body over the limit fails
      // here too, and the body limit (around this) answers 413 all the same.
      const { message: reason } = error as Error;
      throw new FanoutError("validation_failed", `invalid json: ${reason}`, { invalidParams: [{ name: "body", reason }] });
    }
  }
  await next();
});

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
