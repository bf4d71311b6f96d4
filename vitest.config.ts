import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("lib/d1/migrations");
  return {
    test: {
      projects: [
        {
          // Unit and route tests, inside workerd through the Workers pool.
          plugins: [
            cloudflareTest(({ inject }) => {
              const port = inject("upstreamPort");
              return {
                main: "./functions/index.ts",
                wrangler: { configPath: "./wrangler.toml" },
                miniflare: {
                  bindings: {
                    TEST_MIGRATIONS: migrations,
                    UPSTREAM_PORT: String(port),
                    // 127.0.0.1:9 (discard) is listed but closed: an allowed upstream that cannot be reached.
                    // localhost:<port> reaches the same server but is NOT listed: the SSRF tests' forbidden target.
                    UPSTREAM_ALLOWLIST: `http://127.0.0.1:${port}, http://127.0.0.1:9`,
                    API_KEYS: "test:test-key-0123456789, other:other-key-0123456789, admin:admin-key-0123456789",
                    ADMIN_KEY_IDS: "admin",
                    WEBHOOK_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                    KV_PREFIXES: "flags:, test:",
                    R2_PREFIXES: "avatars/, test/",
                    D1_QUERIES: JSON.stringify({
                      userById: "SELECT id, name, email FROM users WHERE id = ?1",
                      ordersByUser: "SELECT id, total_cents, created_at FROM orders WHERE user_id = ?1 ORDER BY id",
                    }),
                    UPSTREAM_CREDENTIALS: JSON.stringify({ [`http://127.0.0.1:${port}`]: { "x-upstream-key": "upstream-secret-value" } }),
                  },
                },
              };
            }),
          ],
          test: {
            name: "workers",
            include: ["test/lib/**/*.test.ts", "test/functions/**/*.test.ts"],
            globalSetup: ["./test/fixtures/global-setup.ts"],
            setupFiles: ["./test/fixtures/apply-migrations.ts"],
          },
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
