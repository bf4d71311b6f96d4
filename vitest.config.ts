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
                    UPSTREAM_ALLOWLIST: `http://127.0.0.1:${port}, http://localhost:${port}, http://127.0.0.1:9`,
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
