import { availableParallelism } from "node:os";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { startUpstream } from "./test/fixtures/upstream.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** The fuzz project's FUZZ_RUNS, FUZZ_SEED and FUZZ_PATH (read by test/fuzz/fuzz.ts, which declares the same). */
    fuzz: { runs: number; seed: string; path: string };
  }
}

export default defineConfig(async () => {
  const migrations = await readD1Migrations("lib/d1/migrations");
  // One Workers pool configuration for every project that runs inside workerd (workers, fuzz). It is read each time a
  // test runner (one workerd, serving file after file) starts, and each runner gets a loopback upstream of its own: two
  // runners side by side never count each other's calls or reset each other's state (test/fixtures/upstream.ts). The
  // server is unref'd, so it ends with the run.
  const workersPool: Parameters<typeof cloudflareTest>[0] = async () => {
    const { server, port } = await startUpstream();
    server.unref();
    server.on("connection", (socket) => socket.unref());
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
          // A batch's audit record goes to the AUDIT queue, which delivers it seconds after the response: into whichever
          // test's storage is current by then (one runner serves many files, and storage is reset after every test).
          // The audit tests (test/functions/jobs.test.ts) switch it on with queues of their own, or wait for the delivery.
          AUDIT_ENABLED: "false",
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
      // Vitest's default is one fewer than the cores: 1 on a 2-core machine, every file one after another. Most of a
      // file's time is spent waiting (on workerd, a server starting, a subprocess), so two at a time there: about 2.5
      // minutes instead of 7.5. More would starve the tests that measure time on a busy 2-core machine.
      maxWorkers: Math.max(2, availableParallelism() - 1),
      // The gateway writes one JSON line per request at info (lib/base/log.ts): the route tests make hundreds, which
      // would bury the report. Info and debug lines are dropped here (the tests that expect a line spy on console and
      // assert it); warn and error lines still print, so an unexpected one shows (a test that provokes one on purpose
      // captures and asserts it: captureLogs in test/functions/helpers.ts).
      onConsoleLog: (log: string) => (/^\{"level":"(debug|info)",/.test(log) ? false : undefined),
      // One loud line when the browser tests were skipped for want of Chromium (test/e2e/browser.ts).
      reporters: ["default", "./test/e2e/browser-reporter.ts"],
      projects: [
        {
          // Unit and route tests, inside workerd through the Workers pool.
          plugins: [cloudflareTest(workersPool)],
          test: {
            name: "workers",
            include: ["test/lib/**/*.test.ts", "test/functions/**/*.test.ts"],
            // One workerd runner serves file after file: starting one per file cost about 3 s each. Storage is still
            // reset after every test (test/fixtures/apply-migrations.ts), and a spy is restored when its test ends.
            isolate: false,
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
            // A runner of its own per file: at FUZZ_RUNS=10000 the composite and batch properties leave the shared
            // workerd's connections to the loopback upstream broken for the next file ("Network connection lost"),
            // and seven files pay about 3 s each for a fresh one.
            isolate: true,
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
          // As real clients call it: `npm start`, then curl, Node's fetch and a browser. Each file starts its own server
          // on its own port and state directory (test/e2e/server.ts), so files run side by side with the others.
          test: {
            name: "e2e",
            include: ["test/e2e/**/*.test.ts"],
            tags: [{ name: "browser", description: "needs Chromium (test/e2e/browser.ts): skipped without it, except in CI" }],
            environment: "node",
            testTimeout: 120_000,
            hookTimeout: 180_000,
          },
        },
      ],
    },
  };
});
