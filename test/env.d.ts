import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      /** Only in tests: the D1 migrations read by vitest.config.ts. */
      TEST_MIGRATIONS: D1Migration[];
      /** Only in tests: the port of the loopback upstream. */
      UPSTREAM_PORT: string;
      /** Only in tests: a real (local) rate limiter of 3 requests per 60 s. */
      RATE_LIMIT_TEST: RateLimit;
    }
  }
}
