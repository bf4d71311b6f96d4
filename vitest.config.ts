import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

declare module "vitest" {
  export interface ProvidedContext {
    /** The fuzz project's FUZZ_RUNS, FUZZ_SEED and FUZZ_PATH (read by test/fuzz/fuzz.ts, which declares the same). */
    fuzz: { runs: number; seed: string; path: string };
  }
}

export default defineConfig(async () => {
  const migrations = await readD1Migrations("lib/d1/migrations");
  // One Workers pool configuration for every project that runs inside workerd (workers, fuzz).
  const workersPool: Parameters<typeof cloudflareTest>[0] = ({ inject }) => {
    const port = inject("upstreamPort");
    return {
      main: "./functions/index.ts",
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          TEST_MIGRATIONS: migrations,
          UPSTREAM_PORT: String(port),
          // The demo surface (off in wrangler.toml): the tests drive /v1/sim/* and relative step URLs.
          DEMO_ENABLED: "true",
          // 127.0.0.1:9 (discard) is listed but closed: an allowed upstream that cannot be reached.
          // localhost:<port> reaches the same server but is NOT listed: the SSRF tests' forbidden target.
          UPSTREAM_ALLOWLIST: `http://127.0.0.1:${port}, http://127.0.0.1:9`,
          API_KEYS: "test:test-key-0123456789, other:other-key-0123456789, admin:admin-key-0123456789",
          ADMIN_KEY_IDS: "admin",
          WEBHOOK_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
          KV_PREFIXES: "flags:, test:, greeting",
          R2_PREFIXES: "avatars/, test/",
          D1_QUERIES: JSON.stringify({
            userById: "SELECT id, name, email FROM users WHERE id = ?1",
            ordersByUser: "SELECT id, total_cents, created_at FROM orders WHERE user_id = ?1 ORDER BY id",
          }),
          UPSTREAM_CREDENTIALS: JSON.stringify({ [`http://127.0.0.1:${port}`]: { "x-upstream-key": "upstream-secret-value" } }),
          // Tests fail the shared upstream on purpose, one after another: with the isolate's circuit breaker on,
          // one test's failures would pause the next test's calls. The breaker tests switch it on themselves.
          BREAKER_ENABLED: "false",
        },
        // The suite sends many requests under one API key (and, without CF-Connecting-IP, one IP): wrangler.toml's
        // limits would throttle it. RATE_LIMIT_TEST is a small real limiter the rate-limit tests drive to its limit.
        ratelimits: {
          RATE_LIMIT_KEYS: { simple: { limit: 1_000_000, period: 60 } },
          RATE_LIMIT_IPS: { simple: { limit: 1_000_000, period: 60 } },
          RATE_LIMIT_TEST: { simple: { limit: 3, period: 60 } },
        },
      },
    };
  };
  return {
    test: {
      projects: [
        {
          // Unit and route tests, inside workerd through the Workers pool.
          plugins: [cloudflareTest(workersPool)],
          test: {
            name: "workers",
            include: ["test/lib/**/*.test.ts", "test/functions/**/*.test.ts"],
            globalSetup: ["./test/fixtures/global-setup.ts"],
            setupFiles: ["./test/fixtures/apply-migrations.ts"],
          },
        },
        {
          // fast-check properties, inside workerd like the unit tests. `npm test` runs a few hundred cases per
          // property; `npm run fuzz` sets FUZZ_RUNS=10000. FUZZ_SEED (and FUZZ_PATH) replay a reported failure.
          plugins: [cloudflareTest(workersPool)],
          test: {
            name: "fuzz",
            include: ["test/fuzz/**/*.test.ts"],
            globalSetup: ["./test/fixtures/global-setup.ts"],
            setupFiles: ["./test/fixtures/apply-migrations.ts"],
            provide: {
              fuzz: { runs: Number(process.env.FUZZ_RUNS ?? 200), seed: process.env.FUZZ_SEED ?? "", path: process.env.FUZZ_PATH ?? "" },
            },
            // Proportional to the run count: a full run is long by design, a hang still fails.
            testTimeout: 60_000 + Number(process.env.FUZZ_RUNS ?? 200) * 200,
          },
        },
        {
          // Checks of the source itself (the layer order, the README against the code), in Node.
          // Some run real commands (npm run deploy:check, tsc): generous bounds on a loaded machine.
          test: { name: "static", include: ["test/static/**/*.test.ts"], environment: "node", testTimeout: 60_000 },
        },
        {
          // As real clients call it: `npm start`, then curl, Node's fetch and a browser.
          test: {
            name: "e2e",
            include: ["test/e2e/**/*.test.ts"],
            environment: "node",
            testTimeout: 120_000,
            hookTimeout: 180_000,
            fileParallelism: false,
          },
        },
      ],
    },
  };
});
