// Serving the built gateway with Miniflare, shared by the benchmarks (run.mjs) and the soak (soak.mjs).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../..", import.meta.url));
export const API_KEY = "bench-key-0123456789";
export const COMPATIBILITY = {
  compatibilityDate: "2026-04-20",
  compatibilityFlags: ["global_fetch_strictly_public", "enable_request_signal"],
};

/** Bundles the Worker as `wrangler deploy` would (minified, into a temporary folder); returns the entry's path. */
export function build() {
  const outdir = mkdtempSync(join(tmpdir(), "fanout-bench-"));
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir], {
    cwd: root,
    stdio: "ignore",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  return join(outdir, "index.js");
}

/** A Miniflare worker definition of the built gateway, allowed to call `upstreamOrigin`; `bindings` override the defaults. */
export function fanoutWorker(name, { script, upstreamOrigin, bindings = {}, routes }) {
  return {
    name,
    modules: true,
    scriptPath: script,
    modulesRoot: dirname(script),
    ...COMPATIBILITY,
    bindings: {
      API_KEYS: `bench:${API_KEY}`,
      UPSTREAM_ALLOWLIST: upstreamOrigin,
      MAX_STEPS: "200",
      MAX_CONCURRENCY: "200",
      SUBREQUEST_BUDGET: "10000",
      LOG_LEVEL: "warn",
      ...bindings,
    },
    kvNamespaces: ["KV"],
    r2Buckets: ["BUCKET"],
    d1Databases: { DB: "fanout-bench" },
    queueProducers: { JOBS: "fanout-jobs", JOBS_DLQ: "fanout-jobs-dlq" },
    // The rate limiters of wrangler.toml, with limits a benchmark never reaches (a missing binding would log a warning per request).
    ratelimits: {
      RATE_LIMIT_KEYS: { simple: { limit: 1_000_000_000, period: 60 } },
      RATE_LIMIT_IPS: { simple: { limit: 1_000_000_000, period: 60 } },
    },
    ...(routes ? { routes } : {}),
  };
}

/** Applies lib/d1/migrations to the D1 database of `workerName` (the audit write needs its table). */
export async function applyMigrations(mf, workerName = "fanout") {
  const db = await mf.getD1Database("DB", workerName);
  const migrations = join(root, "lib/d1/migrations");
  for (const file of readdirSync(migrations).sort()) {
    const sql = readFileSync(join(migrations, file), "utf8").replace(/--.*$/gm, "");
    for (const statement of sql
      .split(";")
      .map((text) => text.trim())
      .filter(Boolean))
      await db.prepare(statement).run();
  }
}
