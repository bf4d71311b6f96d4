import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";

interface RateLimitBinding {
  name: string;
  simple: { limit: number; period: number };
}

/**
 * A rate-limit binding cannot report its numbers, so wrangler.toml repeats each binding's `simple`
 * setting in a RATE_LIMIT_*_RULE var that words the 429 and its Retry-After. They must agree.
 */
describe("wrangler.toml rate limits", () => {
  const config = unstable_readConfig({ config: new URL("../../wrangler.toml", import.meta.url).pathname });

  it.each(["RATE_LIMIT_KEYS", "RATE_LIMIT_IPS"])("%s matches its RATE_LIMIT_*_RULE var", (name) => {
    const binding = (config.ratelimits as RateLimitBinding[]).find((entry) => entry.name === name);
    expect(binding, `[[ratelimits]] ${name}`).toBeDefined();
    expect([10, 60]).toContain(binding!.simple.period);
    expect(config.vars[`${name}_RULE`]).toBe(`${binding!.simple.limit}/${binding!.simple.period}`);
  });
});
