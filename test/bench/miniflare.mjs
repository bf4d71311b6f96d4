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

/**
 * The benchmarks' overrides of the shipped defaults (lib/base/config.ts), named in every results.json
 * section's `settings`: room for batches of 200 steps at a concurrency of 200, a subrequest budget no
 * benchmark reaches, and quiet logs (LOG_LEVEL info writes an access-log line per request).
 */
export const BENCH_OVERRIDES = Object.freeze({
  MAX_STEPS: "200",
  MAX_CONCURRENCY: "200",
  SUBREQUEST_BUDGET: "10000",
  LOG_LEVEL: "warn",
});

/**
 * A Miniflare worker definition of the built gateway, allowed to call `upstreamOrigin`. `overrides`
 * (BENCH_OVERRIDES unless given; `{}` runs the shipped defaults) and then `bindings` are set on top of
 * API_KEYS and UPSTREAM_ALLOWLIST, which every instance needs.
 */
export function fanoutWorker(name, { script, upstreamOrigin, overrides = BENCH_OVERRIDES, bindings = {}, routes, consumesAudit = true }) {
  return {
    name,
    modules: true,
    scriptPath: script,
    modulesRoot: dirname(script),
    // The text modules the build leaves beside index.js (wrangler.toml's [[rules]]: the pages' .html and .css, the composites file).
    modulesRules: [{ type: "Text", include: ["**/*.html", "**/*.css", "**/*.txt", "**/*.jsonc"] }],
    ...COMPATIBILITY,
    bindings: {
      API_KEYS: `bench:${API_KEY}`,
      UPSTREAM_ALLOWLIST: upstreamOrigin,
      ...overrides,
      ...bindings,
    },
    kvNamespaces: ["KV"],
    r2Buckets: ["BUCKET"],
    d1Databases: { DB: "fanout-bench" },
    queueProducers: { JOBS: "fanout-jobs", JOBS_DLQ: "fanout-jobs-dlq", AUDIT: "fanout-audit" },
    // wrangler.toml's audit consumer, so audit rows are written (and their CPU counted) as in production; on one
    // auditing worker per Miniflare only (a queue has one consumer): `consumesAudit: false` for the others.
    ...(bindings.AUDIT_ENABLED === "false" || !consumesAudit
      ? {}
      : {
          queueConsumers: { "fanout-audit": { maxBatchSize: 100, maxBatchTimeout: 2, maxRetries: 5, deadLetterQueue: "fanout-audit-dlq" } },
        }),
    // The rate limiters of wrangler.toml, with limits a benchmark never reaches (a missing binding would log a warning per request).
    ratelimits: {
      RATE_LIMIT_KEYS: { simple: { limit: 1_000_000_000, period: 60 } },
      RATE_LIMIT_IPS: { simple: { limit: 1_000_000_000, period: 60 } },
    },
    ...(routes ? { routes } : {}),
  };
}

/**
 * Miniflare's option that turns off its outbound hop. By default Miniflare routes every outgoing
 * `fetch` of a Worker through a small JavaScript Worker of its own that strips `CF-Connecting-IP`
 * (and sets `CF-Worker`); that hop runs in the same workerd, so its CPU is counted with the
 * Worker's, and it costs about half the bare reference's CPU per call. The edge has no such hop, and
 * counting it in every contender flatters the heavier one (the same constant on both sides of a
 * ratio), so the CPU workload spreads this into every contender's worker definition.
 */
export const NO_OUTBOUND_HOP = Object.freeze({ stripCfConnectingIp: false });

/** The bare `Promise.all` Worker (test/bench/reference-worker.js). */
export function referenceWorker(name = "reference", { routes } = {}) {
  return { name, modules: true, scriptPath: join(root, "test/bench/reference-worker.js"), ...COMPATIBILITY, ...(routes ? { routes } : {}) };
}

/** The hand-written Worker with fanout's per-call guarantees (test/bench/fair-worker.js), allowed to call `upstreamOrigin`. */
export function fairWorker(name, { upstreamOrigin, routes }) {
  return {
    name,
    modules: true,
    scriptPath: join(root, "test/bench/fair-worker.js"),
    ...COMPATIBILITY,
    bindings: { ALLOWLIST: upstreamOrigin },
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

/** `/proc/<pid>/stat` fields after the command name: [state, ppid, ...]; utime and stime are [11] and [12]. */
function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined; // gone meanwhile
  }
}

/** Every live descendant of `pid` (Linux /proc). */
export function descendantsOf(pid = process.pid) {
  const parents = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(entry);
    if (fields) parents.set(Number(entry), Number(fields[1]));
  }
  const found = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/**
 * CPU time of the processes `pids`, in nanoseconds: the sum over every thread of the first field of
 * `/proc/<pid>/task/<tid>/schedstat` (time spent on a CPU; the scheduler's own nanosecond clock, not
 * the 10 ms ticks of /proc/<pid>/stat). A thread that ended meanwhile takes its time with it: read
 * long-lived processes only (workerd keeps its threads).
 */
export function cpuNs(pids) {
  let ns = 0;
  for (const pid of pids) {
    let tids;
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone meanwhile
    }
    for (const tid of tids) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ", 1)[0]);
      } catch {
        // the thread ended between the listing and the read
      }
    }
  }
  return ns;
}

/**
 * Starts a Miniflare of its own (so its workerd is a process of its own) and returns it with the
 * ids of the processes it spawned: those that are new descendants of this Node process.
 */
export async function startIsolatedMiniflare(options) {
  const { Miniflare } = await import("miniflare");
  const before = new Set(descendantsOf());
  const mf = new Miniflare(options);
  const url = await mf.ready;
  const pids = descendantsOf().filter((pid) => !before.has(pid));
  if (pids.length === 0) throw new Error("could not find the workerd process Miniflare started (is /proc available?)");
  return { mf, url, pids };
}
