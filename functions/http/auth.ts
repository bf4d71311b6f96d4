import type { Context } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { createMiddleware } from "hono/factory";
import { sha256 } from "../../lib/base/bytes";
import type { Config } from "../../lib/base/config";
import { FanoutError } from "../../lib/base/errors";
import type { AppEnv } from "./env";

/**
 * `Authorization: Bearer <key>` against the API_KEYS secret. Every configured key is compared (in
 * constant time, on SHA-256 digests) so timing says nothing about which or how many keys exist.
 * With no keys configured the route answers 503: never open by accident.
 *
 * The configured keys' digests are computed once per isolate (keyed on the parsed configuration,
 * itself parsed once per env object); a request hashes only the token it presents.
 */

interface KeyDigest {
  id: string;
  digest: Uint8Array;
}

/** Resolved digests only (plain bytes, never a promise): two first requests may both compute them, harmlessly. */
const keyDigests = new WeakMap<Config, KeyDigest[]>();

async function digestsOf(config: Config): Promise<KeyDigest[]> {
  let digests = keyDigests.get(config);
  if (digests === undefined) {
    digests = await Promise.all(config.API_KEYS.map(async ({ id, key }) => ({ id, digest: await sha256(key) })));
    keyDigests.set(config, digests);
  }
  return digests;
}

/** Equal-length digests compared without an early exit: the time does not depend on where they differ. */
function digestsEqual(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ (b[i] ?? 0);
  return difference === 0;
}

// Built once (it compiles its token pattern when built); the request's context carries the match.
const checkBearer = bearerAuth({
  verifyToken: async (token, c) => {
    const config = (c as unknown as Context<AppEnv>).var.config;
    const [digests, presented] = await Promise.all([digestsOf(config), sha256(token)]);
    let matched: string | undefined;
    // Every key is compared, matched or not.
    for (const { id, digest } of digests) {
      if (digestsEqual(presented, digest) && matched === undefined) matched = id;
    }
    if (matched !== undefined) (c as unknown as Context<AppEnv>).set("apiKeyId", matched);
    return matched !== undefined;
  },
});

export const requireApiKey = createMiddleware<AppEnv>(async (c, next) => {
  if (c.var.config.API_KEYS.length === 0) throw new FanoutError("not_configured", "no API keys are configured (API_KEYS)");
  // bearerAuth is typed for a plain Hono Context; it only reads the header and throws on failure.
  return checkBearer(c as unknown as Context, next);
});
