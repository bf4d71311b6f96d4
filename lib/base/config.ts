import { z } from "zod";
import { FanoutError } from "./errors";
import {
  ASYNC_WAITUNTIL_LIMIT_MS,
  CONNECTIONS_WAITING_FOR_HEADERS,
  DEFAULT_SUBREQUEST_BUDGET,
  MAX_PLATFORM_SUBREQUESTS,
  OWN_SUBREQUESTS,
  WAIT_UNTIL_WINDOW_MS,
} from "./limits";
import { parseAllowList } from "./policy";

/**
 * Configuration vars and secrets, validated in one place. A bad value fails with a message that
 * names the var, rendered as a 503 `not_configured` (the operator's fault, not the client's); the
 * message is logged, never shown to the client.
 */

/** A Standard Webhooks secret: whsec_ followed by base64. */
export const SECRET_PATTERN = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

const flag = z.enum(["true", "false"]).transform((value) => value === "true");
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

function parsed<T>(parse: (text: string) => T) {
  return z.string().transform((text, ctx) => {
    try {
      return parse(text);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
  });
}

const list = (text: string) => text.split(/[\s,]+/).filter(Boolean);

/** `id:key` pairs, comma-separated. The id is what logs and audit records show; the key never is. */
function parseApiKeys(text: string): Array<{ id: string; key: string }> {
  return list(text).map((entry) => {
    const colon = entry.indexOf(":");
    const id = entry.slice(0, colon);
    const key = entry.slice(colon + 1);
    if (colon < 1 || !/^[\w.-]{1,64}$/.test(id) || key.length < 16) {
      throw new Error("each API key must be written id:key with a key of at least 16 characters");
    }
    return { id, key };
  });
}

const READ_ONLY_SQL = /^\s*(select|with)\b[^;]*;?\s*$/is;

/** Named read-only D1 queries: a JSON object of name -> one SELECT statement. */
function parseD1Queries(text: string): Record<string, string> {
  const queries = z.record(z.string().regex(/^\w{1,64}$/, "query names are word characters"), z.string()).parse(JSON.parse(text || "{}"));
  for (const [name, sql] of Object.entries(queries)) {
    if (!READ_ONLY_SQL.test(sql)) throw new Error(`query ${name} must be a single SELECT (or WITH ... SELECT) statement`);
  }
  return queries;
}

/** Per-origin credentials: a JSON object of origin -> headers, added only to requests to that origin. */
function parseCredentials(text: string): Record<string, Record<string, string>> {
  const credentials = z.record(z.string(), z.record(z.string(), z.string())).parse(JSON.parse(text || "{}"));
  return Object.fromEntries(Object.entries(credentials).map(([origin, headers]) => [new URL(origin).origin, headers]));
}

/** CORS_ORIGINS: exact origins as a browser sends them (`https://app.example.com`), or `*` alone for any origin. */
function parseOrigins(text: string): string[] {
  const origins = list(text);
  if (origins.includes("*")) {
    if (origins.length > 1) throw new Error("* allows every origin and must stand alone");
    return origins;
  }
  for (const origin of origins) {
    let exact = false;
    try {
      exact = /^https?:/.test(origin) && new URL(origin).origin === origin;
    } catch {
      // not a URL at all
    }
    if (!exact) throw new Error(`"${origin}" is not an origin: write scheme://host[:port] as a browser sends it`);
  }
  return origins;
}

/** `limit/period`, the `simple` setting of a [[ratelimits]] binding (which cannot report it): it words the 429 and its Retry-After. */
function parseRateRule(text: string): { limit: number; period: 10 | 60 } {
  const match = /^(\d{1,9})\/(10|60)$/.exec(text.trim());
  if (!match) throw new Error("write limit/period as in wrangler.toml, e.g. 600/60 (the period is 10 or 60 seconds)");
  return { limit: Number(match[1]), period: Number(match[2]) as 10 | 60 };
}

// Empty strings (an unset secret in a .env file) count as unset.
const ConfigSchema = z.preprocess(
  (vars) => Object.fromEntries(Object.entries(vars as Record<string, unknown>).filter(([, value]) => value !== "")),
  z.object({
    // The demo surface (/v1/sim/*, /v1/examples/*, relative /v1/sim/ step URLs, composites marked "demo"):
    // off unless switched on, so a deployment that forgets the var ships closed. local.env turns it on.
    DEMO_ENABLED: flag.default(false),
    UPSTREAM_ALLOWLIST: parsed(parseAllowList).default([]),
    DEFAULT_TIMEOUT_MS: int(1, 300_000).default(10_000),
    DEFAULT_DEADLINE_MS: int(1, 300_000).default(10_000),
    MAX_DEADLINE_MS: int(1, 300_000).default(30_000),
    LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
    API_KEYS: parsed(parseApiKeys).default([]),
    MAX_STEPS: int(1, 1000).default(100),
    DEFAULT_CONCURRENCY: int(1, 1000).default(CONNECTIONS_WAITING_FOR_HEADERS),
    MAX_CONCURRENCY: int(1, 1000).default(50),
    MAX_BODY_BYTES: int(1024, 100 * 1024 * 1024).default(256 * 1024),
    MAX_STEP_RESPONSE_BYTES: int(1, 100 * 1024 * 1024).default(1024 * 1024),
    MAX_BATCH_RESPONSE_BYTES: int(1, 100 * 1024 * 1024).default(8 * 1024 * 1024),
    // Below the runtime's own limit (lib/base/limits.ts): Workers Paid's default unless [limits] subrequests raises it.
    SUBREQUEST_BUDGET: int(1, MAX_PLATFORM_SUBREQUESTS - OWN_SUBREQUESTS).default(DEFAULT_SUBREQUEST_BUDGET),
    KV_PREFIXES: parsed(list).default([]),
    R2_PREFIXES: parsed(list).default([]),
    D1_QUERIES: parsed(parseD1Queries).default({}),
    UPSTREAM_CREDENTIALS: parsed(parseCredentials).default({}),
    // Browsers on other origins (functions/http/cors.ts): none by default, so no CORS headers at all.
    CORS_ORIGINS: parsed(parseOrigins).default([]),
    CORS_CREDENTIALS: flag.default(false),
    // The numbers of the RATE_LIMIT_KEYS and RATE_LIMIT_IPS bindings (functions/http/rate-limit.ts), for the 429's wording.
    RATE_LIMIT_KEYS_RULE: parsed(parseRateRule).optional(),
    RATE_LIMIT_IPS_RULE: parsed(parseRateRule).optional(),
    ADMIN_KEY_IDS: parsed(list).default([]),
    AUDIT_ENABLED: flag.default(true),
    WEBHOOK_SECRET: z.string().regex(SECRET_PATTERN, "must look like whsec_<base64>").optional(),
    ASYNC_WAITUNTIL_LIMIT_MS: int(1, WAIT_UNTIL_WINDOW_MS).default(ASYNC_WAITUNTIL_LIMIT_MS),
    JOB_TTL_SECONDS: int(60, 30 * 86400).default(86400),
    CALLBACK_TIMEOUT_MS: int(100, 60_000).default(15_000),
    CALLBACK_MAX_ATTEMPTS: int(1, 20).default(8),
    CALLBACK_MAX_DELAY_SECONDS: int(1, 43_200).default(43_200),
    CALLBACK_MAX_BYTES: int(1024, 1024 * 1024).default(64 * 1024),
    // Circuit breakers per upstream origin (lib/async/breaker.ts), one set per isolate.
    BREAKER_ENABLED: flag.default(true),
    BREAKER_FAILURES: int(1, 1000).default(5),
    BREAKER_INTERVAL_MS: int(1, 3_600_000).default(10_000),
    BREAKER_COOLDOWN_MS: int(1, 3_600_000).default(30_000),
  }),
);

/** Rules across vars. */
const CheckedConfigSchema = ConfigSchema.superRefine((config, ctx) => {
  if (config.CORS_CREDENTIALS && config.CORS_ORIGINS.includes("*")) {
    ctx.addIssue({
      code: "custom",
      path: ["CORS_CREDENTIALS"],
      message: "credentials cannot be allowed for every origin (CORS_ORIGINS=*): list the origins",
    });
  }
});

export type Config = z.output<typeof ConfigSchema>;
export type LogLevel = Config["LOG_LEVEL"];

/**
 * Validates vars and secrets into a typed Config (defaults applied).
 * @throws FanoutError `not_configured` naming every bad var (logged; a client sees only the code).
 */
export function parseConfig(vars: Record<string, unknown>): Config {
  const result = CheckedConfigSchema.safeParse(vars);
  if (result.success) return result.data;
  const names = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  throw new FanoutError("not_configured", `invalid configuration: ${names.join("; ")}`, {
    invalidParams: result.error.issues.map((issue) => ({ name: issue.path.join("."), reason: issue.message })),
  });
}

/**
 * Parsed configurations per isolate, keyed on the env object the runtime passes in. Vars and secrets
 * are fixed for an isolate's life and the parse is pure, so it runs once per env object instead of
 * once per request; a bad configuration is cached too and answers `not_configured` every time. A
 * different env object (a test's, a new deployment's isolate) is parsed on its own.
 */
const parsedConfigs = new WeakMap<object, Config | FanoutError>();

/**
 * `parseConfig(env)`, once per env object.
 * @throws FanoutError `not_configured`, a fresh one per call, for an invalid configuration.
 */
export function configOf(env: object): Config {
  let entry = parsedConfigs.get(env);
  if (entry === undefined) {
    try {
      entry = parseConfig(env as Record<string, unknown>);
    } catch (error) {
      if (!(error instanceof FanoutError)) throw error;
      entry = error;
    }
    parsedConfigs.set(env, entry);
  }
  if (entry instanceof FanoutError) throw new FanoutError(entry.code, entry.detail, { invalidParams: entry.invalidParams });
  return entry;
}
