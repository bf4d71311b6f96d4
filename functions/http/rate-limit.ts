import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { FanoutError } from "../../lib/base/errors";
import { describeError } from "../../lib/base/log";
import type { AppEnv } from "./env";

/**
 * Rate limits with the Workers Rate Limiting binding: per API key (`key:<id>`, binding
 * RATE_LIMIT_KEYS) or per client IP (`ip:<CF-Connecting-IP>`, binding RATE_LIMIT_IPS). The numbers
 * live on the bindings in wrangler.toml; the binding cannot report them, so the RATE_LIMIT_*_RULE
 * vars repeat them for the 429's wording and Retry-After. Over the limit: 429 `rate_limited`. A
 * missing or failing binding never fails the request: it is logged and the request runs unlimited.
 */

export type RateLimitBy = "apiKey" | "clientIp";

const LIMITS = {
  apiKey: { binding: "RATE_LIMIT_KEYS", rule: "RATE_LIMIT_KEYS_RULE", subject: "this API key" },
  clientIp: { binding: "RATE_LIMIT_IPS", rule: "RATE_LIMIT_IPS_RULE", subject: "this client IP" },
} as const;

/** The longest period a binding may have: a safe Retry-After when the rule var is not set. */
const MAX_PERIOD_SECONDS = 60;

function keyOf(c: Context<AppEnv>, by: RateLimitBy): string {
  if (by === "clientIp") return `ip:${(c.req.header("cf-connecting-ip") || "unknown").slice(0, 64)}`;
  if (c.var.apiKeyId === undefined) throw new FanoutError("internal", 'rateLimit("apiKey") must run after requireApiKey');
  return `key:${c.var.apiKeyId}`;
}

/** Whether the binding says no. A binding that is missing or throws says yes (logged). */
async function refused(c: Context<AppEnv>, binding: "RATE_LIMIT_KEYS" | "RATE_LIMIT_IPS", key: string): Promise<boolean> {
  // Typed as present by wrangler types, but a Worker deployed or served without it has none.
  const limiter: RateLimit | undefined = c.env[binding];
  try {
    if (typeof limiter?.limit !== "function") throw new Error(`the ${binding} binding is missing`);
    const { success } = await limiter.limit({ key });
    return !success;
  } catch (error) {
    c.var.logger.log("warn", "rate limit not applied: the request runs unlimited", { binding, ...describeError(error) });
    return false;
  }
}

/** Middleware: counts this request against the limit of its API key (after requireApiKey) or client IP. */
export function rateLimit(by: RateLimitBy) {
  const { binding, rule, subject } = LIMITS[by];
  return createMiddleware<AppEnv>(async (c, next) => {
    if (await refused(c, binding, keyOf(c, by))) {
      const limits = c.var.config[rule];
      const period = limits?.period ?? MAX_PERIOD_SECONDS;
      const over = limits ? `more than ${limits.limit} requests per ${limits.period} s` : "too many requests";
      throw new FanoutError("rate_limited", `${over} for ${subject} (${binding}); retry after ${period} s`, {
        headers: { "retry-after": String(period) },
      });
    }
    await next();
  });
}
