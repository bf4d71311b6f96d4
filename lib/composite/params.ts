import { z } from "zod";
import { HEADER_VALUE } from "../base/http";
import { PARAM_TYPES, type ParamSpec, type ParamValue } from "./definition";

/**
 * A composite's params: how one is declared in the composites file (`Param`), and the request-time
 * schema each declaration becomes (`paramSchema`), raw text in, the typed value out. Plain zod;
 * `.meta()` carries what the OpenAPI document says of each parameter.
 */

/** A param as the composites file declares it. */
export const Param = z
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
        .meta({ type: spec.type, ...(min === undefined ? {} : { minimum: min }), ...(max === undefined ? {} : { maximum: max }) });
      break;
    }
    case "boolean":
      schema = z
        .enum(["true", "false"], { error: rawValueError(name, `${name} must be true or false`) })
        .transform((value) => value === "true")
        .meta({ type: "boolean" });
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
  const described = schema.meta({
    ...(spec.description ? { description: spec.description } : {}),
    ...(spec.default !== undefined ? { default: spec.default as string } : {}),
    ...(spec.enum ? { enum: spec.enum } : {}),
  });
  if (spec.in === "path" || spec.required) return described;
  if (spec.default !== undefined) return described.optional().transform((value) => value ?? spec.default!);
  return described.optional();
}
