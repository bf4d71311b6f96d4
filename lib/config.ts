import { z } from "zod";
import { FanoutError } from "./errors";
import { parseAllowList } from "./policy";

/**
 * Configuration vars and secrets, validated in one place. A bad value fails with a message that
 * names the var, rendered as a 503 `not_configured` (the operator's fault, not the client's).
 */

const flag = z.enum(["true", "false"]).transform((value) => value === "true");
const ms = (max: number) => z.coerce.number().int().min(1).max(max);

const ConfigSchema = z.object({
  SIM_ENABLED: flag.default(true),
  UPSTREAM_ALLOWLIST: z
    .string()
    .default("")
    .transform((text, ctx) => {
      try {
        return parseAllowList(text);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
        return z.NEVER;
      }
    }),
  DEFAULT_TIMEOUT_MS: ms(300_000).default(10_000),
  MAX_DEADLINE_MS: ms(300_000).default(30_000),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
});

export type Config = z.output<typeof ConfigSchema>;
export type LogLevel = Config["LOG_LEVEL"];

export function parseConfig(vars: Record<string, unknown>): Config {
  const result = ConfigSchema.safeParse(vars);
  if (result.success) return result.data;
  const names = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  throw new FanoutError("not_configured", `invalid configuration: ${names.join("; ")}`, {
    invalidParams: result.error.issues.map((issue) => ({ name: issue.path.join("."), reason: issue.message })),
  });
}
