import type { Context } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { createMiddleware } from "hono/factory";
import { timingSafeEqual } from "hono/utils/buffer";
import { FanoutError } from "../lib/base/errors";
import type { AppEnv } from "./env";

/**
 * `Authorization: Bearer <key>` against the API_KEYS secret. Every configured key is compared (in
 * constant time, on SHA-256 digests) so timing says nothing about which or how many keys exist.
 * With no keys configured the route answers 503: never open by accident.
 */
export const requireApiKey = createMiddleware<AppEnv>(async (c, next) => {
  const keys = c.var.config.API_KEYS;
  if (keys.length === 0) throw new FanoutError("not_configured", "no API keys are configured (API_KEYS)");
  let matched: string | undefined;
  const check = bearerAuth({
    verifyToken: async (token) => {
      for (const { id, key } of keys) {
        if ((await timingSafeEqual(token, key)) && matched === undefined) matched = id;
      }
      return matched !== undefined;
    },
  });
  // bearerAuth is typed for a plain Hono Context; it only reads the header and throws on failure.
  return check(c as unknown as Context, async () => {
    c.set("apiKeyId", matched);
    await next();
  });
});
