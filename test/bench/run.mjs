#!/usr/bin/env node
// fanout's benchmarks: fanout against a bare Promise.all and sequential awaits in the same workerd,
// a hand-written Worker with fanout's per-call guarantees (test/bench/fair-worker.js), and Python
// asyncio + aiohttp, on the same loopback upstream. Prints figures and ratios, writes
// test/bench/results.json and test/bench/fanout-scaling.svg.
//   npm run bench              the full run (several minutes)
//   npm run bench -- --quick   every workload once with small N (CI keeps the benchmark from rotting)
//   npm run bench -- --only cpu [--merge]   one workload (--merge writes its figures into results.json)
//   npm run bench -- --only cap [--merge]   the scaling workloads under the edge's six-connection cap, and the shipped defaults
//   npm run bench -- --only slots [--merge] slow bodies under six slots: a slot freed at headers or held until the body is read
//   npm run bench -- --only bulk [--merge]  a 100-item forEach under six slots: one call per item, or bulk calls of 25
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import autocannon from "autocannon";
import { Log, LogLevel, Miniflare } from "miniflare";
import {
  API_KEY,
  applyMigrations,
  BENCH_OVERRIDES,
  build,
  cpuNs,
  fairWorker,
  fanoutWorker,
  NO_OUTBOUND_HOP,
  referenceWorker,
  root,
  startIsolatedMiniflare,
} from "./miniflare.mjs";
import { lineChartSvg } from "./svg.mjs";
import { FRAMINGS, startUpstream } from "./upstream.mjs";

const execFileAsync = promisify(execFile);
const QUICK = process.argv.includes("--quick");
/**
 * `--only throughput` (or scaling, critical, schedule, streaming, overhead, cpu, cap, slots, bulk) runs one workload: for profiling, writes
 * nothing, unless `--merge` is given too: then its figures replace that workload's key in test/bench/results.json.
 */
const ONLY = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const MERGE = process.argv.includes("--merge");
/** Under CI the asyncio contender must run (CI installs python3-aiohttp): a skip is a missing figure there, not locally. */
const CI = process.env.CI === "true";
/**
 * The edge's cap on connections one Worker invocation may have waiting for their response headers at
 * once (a slot frees when the headers arrive; local workerd does not enforce it). The bench upstream
 * sends its headers only after its delay, so each call waits for headers, and holds a slot, for its
 * whole latency.
 */
const EDGE_CAP = 6;
/** The deadline every benchmark batch sets unless it runs the shipped defaults. */
const DEADLINE_MS = 30_000;
const PLAN = QUICK
  ? {
      ns: [1, 10],
      sequentialNs: [1, 10],
      reps: 1,
      latencyMs: 100,
      depths: [1, 3],
      mixedN: 10,
      throughputSeconds: 2,
      streamingReps: 1,
      cpu: { rounds: 8, warmupTurns: 2, perTurn: { 1: 4, 3: 3, 10: 2, 100: 1 } },
    }
  : {
      ns: [1, 10, 50, 100, 200],
      sequentialNs: [1, 10, 50, 100, 200],
      reps: 7,
      latencyMs: 100,
      depths: [1, 2, 5, 10],
      mixedN: 50,
      throughputSeconds: 10,
      streamingReps: 7,
      // Rounds of the paired CPU workload, and requests per contender per round (a turn) by batch size.
      cpu: { rounds: 100, warmupTurns: 4, perTurn: { 1: 10, 3: 8, 10: 5, 100: 2 } },
    };

const median = (values) => quantile(values, 0.5);
function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}
const round = (value, digits = 1) => (value === undefined || value === null ? null : Math.round(value * 10 ** digits) / 10 ** digits);
const summary = (timings) => ({ medianMs: round(median(timings)), p90Ms: round(quantile(timings, 0.9)), runs: timings.length });

/** Requests with this Host reach a second fanout with AUDIT_ENABLED=false, to show what the audit write costs. */
const NO_AUDIT_HOST = "no-audit.bench.localhost";
/** Requests with this Host reach a fanout with the shipped defaults: no overrides but API_KEYS and UPSTREAM_ALLOWLIST. */
const SHIPPED_HOST = "shipped.bench.localhost";

/**
 * The settings a fanout figure ran with: the overrides of the shipped defaults in force (besides
 * API_KEYS and UPSTREAM_ALLOWLIST, which every instance sets) and the batch's own concurrency and
 * deadlineMs ("default" when the batch leaves the field out).
 */
function fanoutSettings({ env = BENCH_OVERRIDES, extraEnv = {}, concurrency, deadlineMs = DEADLINE_MS } = {}) {
  return {
    env: { ...env, ...extraEnv },
    batch: {
      concurrency: concurrency ?? "default (DEFAULT_CONCURRENCY)",
      deadlineMs: deadlineMs ?? "default (DEFAULT_DEADLINE_MS)",
    },
  };
}

/** One line for a table heading: `env MAX_STEPS=200, ...; batch concurrency N, deadlineMs 30000`. */
function settingsText(settings) {
  if (!settings) return "settings not recorded";
  const env = Object.entries(settings.env ?? {});
  const envText = env.length > 0 ? `env ${env.map(([name, value]) => `${name}=${value}`).join(", ")}` : "no env overrides";
  const batch = settings.batch ? `; batch concurrency ${settings.batch.concurrency}, deadlineMs ${settings.batch.deadlineMs}` : "";
  const others = Object.entries(settings)
    .filter(([name]) => !["env", "batch"].includes(name))
    .map(([name, value]) => `; ${name}: ${value}`)
    .join("");
  return `${envText}${batch}${others}`;
}

/** POST with a chosen Host header (fetch may not set one), answering `{ status, json }` whatever the status. */
function postVia(url, body, headers) {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) =>
    request(
      url,
      { method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload), ...headers } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode, json: JSON.parse(text) });
          } catch {
            resolve({ status: res.statusCode, json: { text: text.slice(0, 300) } });
          }
        });
      },
    )
      .on("error", reject)
      .end(payload),
  );
}

async function startWorkers(script, upstreamOrigin) {
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    cf: false,
    log: new Log(LogLevel.WARN),
    // Workers' console output (the shipped-defaults instance logs a line per request) goes to stderr, beside the progress lines.
    handleRuntimeStdio(stdout, stderr) {
      stdout.pipe(process.stderr);
      stderr.pipe(process.stderr);
    },
    workers: [
      fanoutWorker("fanout", { script, upstreamOrigin }),
      referenceWorker("reference", { routes: ["*/__reference/*"] }),
      fairWorker("fair", { upstreamOrigin, routes: ["*/__fair/*"] }),
      fanoutWorker("fanout-no-audit", { script, upstreamOrigin, bindings: { AUDIT_ENABLED: "false" }, routes: [`${NO_AUDIT_HOST}/*`] }),
      fanoutWorker("fanout-shipped", { script, upstreamOrigin, overrides: {}, routes: [`${SHIPPED_HOST}/*`], consumesAudit: false }),
    ],
  });
  const url = await mf.ready;
  const noAudit = await new Promise((resolve, reject) =>
    request(new URL("/healthz", url), { headers: { host: NO_AUDIT_HOST } }, (res) => {
      let text = "";
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve(JSON.parse(text)));
    })
      .on("error", reject)
      .end(),
  );
  if (noAudit.features?.audit !== false) throw new Error(`the ${NO_AUDIT_HOST} route did not reach the no-audit worker`);
  // Once: every fanout Worker here binds the same D1 database (fanout-bench), and a migration runs only once.
  await applyMigrations(mf);
  return { mf, origin: url.origin };
}

function pythonWithAiohttp() {
  for (const candidate of ["python3", "/usr/bin/python3"]) {
    if (spawnSync(candidate, ["-c", "import aiohttp"], { stdio: "ignore" }).status === 0) return candidate;
  }
  return undefined;
}

/** Lets the previous request's post-response work (the audit write) finish, so repetitions are independent. */
const SETTLE_MS = 100;

async function timed(fn, reps) {
  await fn(); // warm-up, not counted
  const timings = [];
  for (let i = 0; i < reps; i++) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const started = performance.now();
    await fn();
    timings.push(performance.now() - started);
  }
  return timings;
}

async function postJson(url, body, headers = {}) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

function contenders({ origin, upstream, python }) {
  const fanout = async (urls, extra = {}) => {
    const steps = urls.map((url, i) => ({ id: `s${i}`, http: { url, maxRedirects: 0 } }));
    const result = await postJson(
      `${origin}/v1/batch`,
      { steps, concurrency: Math.max(1, urls.length), deadlineMs: DEADLINE_MS, ...extra },
      { authorization: `Bearer ${API_KEY}` },
    );
    if (result.counts.ok !== urls.length) throw new Error(`fanout: ${JSON.stringify(result.counts)}`);
  };
  const reference = (mode) => async (urls) => {
    const result = await postJson(`${origin}/__reference/${mode}`, { urls });
    if (result.statuses.some((status) => status !== 200)) throw new Error(`reference ${mode}: ${result.statuses}`);
  };
  const fair = (query) => async (urls) => {
    const result = await postJson(`${origin}/__fair/all${query}`, { urls, maxRedirects: 0 });
    if (result.counts.ok !== urls.length) throw new Error(`fair${query}: ${JSON.stringify(result.counts)}`);
  };
  // Asynchronous on purpose: the upstream lives in this process and must keep answering meanwhile.
  // `limit` caps aiohttp's connections open at once (0: none).
  const asyncio = async (urls, reps, limit = 0) => {
    if (!python) return undefined;
    const { stdout } = await execFileAsync(python, [join(root, "test/bench/asyncio_fanout.py"), JSON.stringify({ urls, reps, limit })], {
      timeout: 300_000,
    });
    return JSON.parse(stdout).timings;
  };
  return {
    fanout,
    all: reference("all"),
    allCapped: reference(`all?slots=${EDGE_CAP}`),
    /** The six-slot Promise.all freeing a call's slot when its headers arrive, not when its body has been read. */
    allCappedToHeaders: reference(`all?slots=${EDGE_CAP}&release=headers`),
    fairCapped: fair(`?slots=${EDGE_CAP}`),
    fairCappedToHeaders: fair(`?slots=${EDGE_CAP}&release=headers`),
    sequential: reference("sequential"),
    asyncio,
    upstream: upstream.origin,
    resetPeak: upstream.resetPeak,
    upstreamInFlight: upstream.inFlight,
    peakSinceReset: upstream.peakSinceReset,
  };
}

const ASYNCIO_SKIPPED = { skipped: "python3 with aiohttp not found (apt-get install python3-aiohttp)" };

const delayUrls = (upstream, latencies) => latencies.map((ms, i) => `${upstream}/delay?ms=${ms}&i=${i}`);

/** The scaling workloads: N independent calls of PLAN.latencyMs each, and N calls of mixed latencies. */
function scalingWorkloads() {
  return [
    ...PLAN.ns.map((n) => ({ name: `N=${n}`, n, latencies: Array(n).fill(PLAN.latencyMs) })),
    {
      name: `N=${PLAN.mixedN} mixed 10-500 ms`,
      n: PLAN.mixedN,
      mixed: true,
      latencies: Array.from(
        { length: PLAN.mixedN },
        (_, i) => 10 + Math.round((490 * ((i * 37) % PLAN.mixedN)) / Math.max(1, PLAN.mixedN - 1)),
      ),
    },
  ];
}

async function scaling(c) {
  const rows = [];
  for (const workload of scalingWorkloads()) {
    const urls = delayUrls(c.upstream, workload.latencies);
    const row = {
      workload: workload.name,
      n: workload.n,
      mixed: Boolean(workload.mixed),
      slowestMs: Math.max(...workload.latencies),
      settings: fanoutSettings({ concurrency: workload.n }),
    };
    row.fanout = summary(await timed(() => c.fanout(urls), PLAN.reps));
    row.promiseAll = summary(await timed(() => c.all(urls), PLAN.reps));
    row.sequential =
      PLAN.sequentialNs.includes(workload.n) || workload.mixed
        ? summary(await timed(() => c.sequential(urls), workload.n >= 100 ? Math.min(3, PLAN.reps) : PLAN.reps))
        : null;
    const asyncioTimings = await c.asyncio(urls, PLAN.reps);
    row.asyncio = asyncioTimings ? summary(asyncioTimings) : ASYNCIO_SKIPPED;
    rows.push(row);
    console.error(`  scaling ${workload.name}: fanout ${row.fanout.medianMs} ms, Promise.all ${row.promiseAll.medianMs} ms`);
  }
  return rows;
}

async function criticalPath(c) {
  const rows = [];
  const L = PLAN.latencyMs;
  const shapes = [
    ...PLAN.depths.map((depth) => ({
      name: `chain d=${depth}`,
      depth,
      steps: Array.from({ length: depth }, (_, i) => ({
        id: `c${i}`,
        http: { url: `${c.upstream}/delay?ms=${L}&c=${i}`, maxRedirects: 0 },
        ...(i > 0 ? { dependsOn: [`c${i - 1}`] } : {}),
      })),
    })),
    {
      name: "diamond A->{B,C}->D",
      depth: 3,
      steps: ["a", "b", "c", "d"].map((id) => ({
        id,
        http: { url: `${c.upstream}/delay?ms=${L}&d=${id}`, maxRedirects: 0 },
        ...(id === "b" || id === "c" ? { dependsOn: ["a"] } : id === "d" ? { dependsOn: ["b", "c"] } : {}),
      })),
    },
  ];
  for (const shape of shapes) {
    const timings = await timed(
      () => postJson(`${c.origin}/v1/batch`, { steps: shape.steps, deadlineMs: DEADLINE_MS }, { authorization: `Bearer ${API_KEY}` }),
      PLAN.reps,
    );
    const stats = summary(timings);
    rows.push({
      shape: shape.name,
      depth: shape.depth,
      ...stats,
      efficiency: round((shape.depth * L) / stats.medianMs, 3),
      settings: fanoutSettings(),
    });
  }
  return rows;
}

/**
 * The list schedule of a DAG with known latencies on `slots` slots: whenever a slot is free, the ready
 * step that comes first in `order` starts. Returns the makespan in ms.
 */
function listSchedule(steps, slots, order) {
  const done = new Map();
  const running = [];
  let now = 0;
  while (done.size < steps.length) {
    const ready = steps.filter(
      (step) =>
        !done.has(step.id) && !running.some((run) => run.step === step) && (step.dependsOn ?? []).every((id) => done.get(id) <= now),
    );
    ready.sort(order);
    while (running.length < slots && ready.length > 0) {
      const step = ready.shift();
      running.push({ step, end: now + step.latencyMs });
    }
    running.sort((a, b) => a.end - b.end);
    const next = running.shift();
    now = next.end;
    done.set(next.step.id, now);
  }
  return now;
}

/** Critical-path priorities (the longest chain of latencies from each step to the end). */
function criticalPathOf(steps) {
  const memo = new Map();
  const dependents = (id) => steps.filter((step) => (step.dependsOn ?? []).includes(id));
  const of = (step) => {
    if (!memo.has(step.id)) memo.set(step.id, step.latencyMs + Math.max(0, ...dependents(step.id).map(of)));
    return memo.get(step.id);
  };
  return new Map(steps.map((step) => [step.id, of(step)]));
}

/**
 * Critical-path-first scheduling under the edge's six-connection cap (here fanout's own concurrency
 * of 6, its default: local workerd does not enforce the cap). Each DAG runs with expectedMs hints,
 * without them (defaults), and with every hint 0 (all priorities tie, so it is FIFO), against the
 * computed critical-path list schedule and the computed FIFO schedule.
 */
async function schedule(c) {
  const SLOTS = 6;
  const L = PLAN.latencyMs;
  const chain = (n, ms, prefix) =>
    Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, latencyMs: ms, ...(i > 0 ? { dependsOn: [`${prefix}${i - 1}`] } : {}) }));
  const fan = (n, ms, prefix) => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, latencyMs: ms }));
  const dags = [
    { name: "chain 5 x 100 ms after fan 30 x 100 ms", steps: [...fan(30, L, "f"), ...chain(5, L, "c")] },
    { name: "chain 3 x 200 ms after fan 24 x 50 ms", steps: [...fan(24, L / 2, "f"), ...chain(3, 2 * L, "c")] },
  ];
  const rows = [];
  for (const dag of dags) {
    const priorities = criticalPathOf(dag.steps);
    const index = new Map(dag.steps.map((step, i) => [step.id, i]));
    const best = listSchedule(dag.steps, SLOTS, (a, b) => priorities.get(b.id) - priorities.get(a.id) || index.get(a.id) - index.get(b.id));
    const fifo = listSchedule(dag.steps, SLOTS, (a, b) => index.get(a.id) - index.get(b.id));
    const batch = (hint) => ({
      steps: dag.steps.map((step) => ({
        id: step.id,
        http: { url: `${c.upstream}/delay?ms=${step.latencyMs}&s=${step.id}`, maxRedirects: 0 },
        ...(step.dependsOn ? { dependsOn: step.dependsOn } : {}),
        ...(hint === undefined ? {} : { expectedMs: hint(step) }),
      })),
      concurrency: SLOTS,
      deadlineMs: DEADLINE_MS,
    });
    const variants = [
      ["fanout, expectedMs hints", batch((step) => step.latencyMs)],
      ["fanout, no hints (defaults)", batch(undefined)],
      ["fanout, all hints 0 (FIFO)", batch(() => 0)],
    ];
    for (const [variant, body] of variants) {
      const timings = await timed(async () => {
        const result = await postJson(`${c.origin}/v1/batch`, body, { authorization: `Bearer ${API_KEY}` });
        if (result.counts.ok !== dag.steps.length) throw new Error(`schedule: ${JSON.stringify(result.counts)}`);
      }, PLAN.reps);
      const stats = summary(timings);
      rows.push({
        dag: dag.name,
        variant,
        slots: SLOTS,
        ...stats,
        computedBestMs: best,
        computedFifoMs: fifo,
        overBest: ratio(stats.medianMs, best),
        speedUpVsFifo: ratio(fifo, stats.medianMs),
        settings: fanoutSettings({ concurrency: SLOTS }),
      });
    }
  }
  return rows;
}

/**
 * The scaling workloads under the edge's six-connection cap, which local workerd does not enforce:
 * every contender keeps at most six upstream calls in flight (fanout through `concurrency: 6`, its
 * pool; the reference Worker through a six-slot limiter around its Promise.all; aiohttp through
 * TCPConnector(limit=6)), against the computed floor: ceil(N / 6) waves of L for uniform latencies,
 * the list schedule of the latencies in listing order on six slots for the mixed workload. The
 * upstream's peak in flight is recorded per contender; over six is a failed run.
 */
async function edgeCap(c) {
  const rows = [];
  const measured = async (fn) => {
    // Earlier workloads' stragglers (a load generator's cancelled requests still running in workerd) must not count.
    for (let waited = 0; c.upstreamInFlight() > 0 && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    c.resetPeak();
    const timings = await fn();
    return timings ? { ...summary(timings), peak: c.peakSinceReset() } : undefined;
  };
  for (const workload of scalingWorkloads()) {
    const urls = delayUrls(c.upstream, workload.latencies);
    const uniform = workload.latencies.every((ms) => ms === workload.latencies[0]);
    const floorMs = uniform
      ? Math.ceil(workload.n / EDGE_CAP) * workload.latencies[0]
      : listSchedule(
          workload.latencies.map((latencyMs, i) => ({ id: `s${i}`, latencyMs, index: i })),
          EDGE_CAP,
          (a, b) => a.index - b.index,
        );
    const row = { workload: workload.name, n: workload.n, mixed: Boolean(workload.mixed), floorMs };
    row.fanout = await measured(() => timed(() => c.fanout(urls, { concurrency: EDGE_CAP }), PLAN.reps));
    row.reference6 = await measured(() => timed(() => c.allCapped(urls), PLAN.reps));
    row.asyncio6 = (await measured(() => c.asyncio(urls, PLAN.reps, EDGE_CAP))) ?? ASYNCIO_SKIPPED;
    row.ratios = {
      fanoutOverReference6: ratio(row.fanout.medianMs, row.reference6.medianMs),
      fanoutOverAsyncio6: ratio(row.fanout.medianMs, row.asyncio6.medianMs),
      fanoutOverFloor: ratio(row.fanout.medianMs, floorMs),
    };
    rows.push(row);
    console.error(
      `  edge cap ${workload.name}: fanout ${row.fanout.medianMs} ms (peak ${row.fanout.peak}), reference-6 ${row.reference6.medianMs} ms (peak ${row.reference6.peak}), asyncio-6 ${row.asyncio6.medianMs ?? "skipped"} (peak ${row.asyncio6.peak ?? "-"}), floor ${floorMs} ms`,
    );
  }
  return {
    cap: EDGE_CAP,
    date: new Date().toISOString(),
    settings: {
      ...fanoutSettings({ concurrency: EDGE_CAP }),
      reference6: `Promise.all behind a ${EDGE_CAP}-slot limiter (POST /__reference/all?slots=${EDGE_CAP})`,
      asyncio6: `aiohttp.TCPConnector(limit=${EDGE_CAP})`,
    },
    rows,
  };
}

/** The slot workload: how many calls, how late each body arrives after its headers. */
const SLOW_BODIES = { n: 30, bodyMs: 200 };

/**
 * Slow bodies under the six-slot model (issue 19, part 3): 30 calls whose upstream sends the headers
 * at once and the body 200 ms later (with a Content-Length). Every contender keeps at most six calls
 * waiting for headers: fanout through `concurrency: 6` (its pool, whatever it frees a slot on), the
 * bare Promise.all and the fair Worker each behind a six-slot limiter that holds a call's slot until
 * its body has been read (the edge before 2026-04-09: five waves of 200 ms) or frees it when its
 * headers arrive (the edge since: every body overlaps, one wave). Client-observed wall time; peak is
 * the most calls open at the upstream at once (until their body's last byte).
 */
async function slots(c) {
  const { n, bodyMs } = SLOW_BODIES;
  const urls = Array.from({ length: n }, (_, i) => `${c.upstream}/delay?ms=0&bodyMs=${bodyMs}&framing=length&i=${i}`);
  const contenders = [
    ["fanout", "its pool", () => c.fanout(urls, { concurrency: EDGE_CAP })],
    ["bare", "body", () => c.allCapped(urls)],
    ["bare", "headers", () => c.allCappedToHeaders(urls)],
    ["fair", "body", () => c.fairCapped(urls)],
    ["fair", "headers", () => c.fairCappedToHeaders(urls)],
  ];
  const measured = await inTurns(
    c,
    contenders.map(([, , fn]) => fn),
  );
  const rows = contenders.map(([contender, release], i) => ({
    contender,
    release,
    ...summary(measured[i].timings),
    peak: measured[i].peak,
  }));
  for (const row of rows) row.fanoutOverThis = ratio(rows[0].medianMs, row.medianMs);
  console.error(`  slots: ${rows.map((row) => `${row.contender} (${row.release}) ${row.medianMs} ms, peak ${row.peak}`).join("; ")}`);
  return {
    date: new Date().toISOString(),
    n,
    bodyMs,
    cap: EDGE_CAP,
    upstream: "content-length",
    floorMs: { body: Math.ceil(n / EDGE_CAP) * bodyMs, headers: bodyMs },
    settings: {
      ...fanoutSettings({ concurrency: EDGE_CAP }),
      bare: `POST /__reference/all?slots=${EDGE_CAP}[&release=headers]`,
      fair: `POST /__fair/all?slots=${EDGE_CAP}[&release=headers]`,
    },
    rows,
  };
}

/**
 * Runs each of `runs` PLAN.reps times after one warm-up, the contenders taking turns in an order that
 * rotates from one repetition to the next, so a slow spell of this shared machine falls on all of them
 * alike. Before each turn the upstream must have no call open, so the peak is that contender's own.
 * @returns per run, its client-observed wall times and the most calls open at the upstream during its turns
 */
async function inTurns(c, runs) {
  for (const run of runs) await run(); // warm-up, not counted
  const measured = runs.map(() => ({ timings: [], peak: 0 }));
  for (let rep = 0; rep < PLAN.reps; rep++) {
    for (let turn = 0; turn < runs.length; turn++) {
      const index = (rep + turn) % runs.length;
      for (let waited = 0; c.upstreamInFlight() > 0 && waited < 10_000; waited += 50)
        await new Promise((resolve) => setTimeout(resolve, 50));
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      c.resetPeak();
      const started = performance.now();
      await runs[index]();
      measured[index].timings.push(performance.now() - started);
      measured[index].peak = Math.max(measured[index].peak, c.peakSinceReset());
    }
  }
  return measured;
}

/** The bulk workload: a forEach of `n` items against an upstream answering in `latencyMs`, in bulk calls of `size`. */
const BULK = { n: 100, latencyMs: 100, size: 25 };

/**
 * Bulk calls under the six-slot model (issue 20, part 4): a forEach of 100 items against an upstream that
 * answers in 100 ms, through `concurrency: 6`, one call per item (ceil(100 / 6) = 17 waves) or with
 * `batch: { size: 25 }` (ceil(100 / 25) = 4 calls, one wave). Client-observed wall time, the two taking
 * turns; peak is the most calls open at the upstream at once.
 */
async function bulk(c) {
  const { n, latencyMs, size } = BULK;
  const forEach = Array.from({ length: n }, (_, i) => i + 1);
  const url = `${c.upstream}/bulk?ms=${latencyMs}`;
  const run = (step) => async () => {
    const body = { steps: [{ id: "items", forEach, ...step }], concurrency: EDGE_CAP, deadlineMs: DEADLINE_MS };
    const result = await postJson(`${c.origin}/v1/batch`, body, { authorization: `Bearer ${API_KEY}` });
    if (result.counts.ok !== 1) throw new Error(`bulk: ${JSON.stringify(result.results.items?.error ?? result.counts)}`);
  };
  const contenders = [
    { contender: "one by one", calls: n, fn: run({ http: { url: `${url}&id={{item}}`, maxRedirects: 0 } }) },
    {
      contender: `batch size ${size}`,
      calls: Math.ceil(n / size),
      fn: run({ http: { url, maxRedirects: 0 }, batch: { size, param: "id", matchBy: "id" } }),
    },
  ];
  const measured = await inTurns(
    c,
    contenders.map(({ fn }) => fn),
  );
  const rows = contenders.map(({ contender, calls }, i) => ({
    contender,
    calls,
    waves: Math.ceil(calls / EDGE_CAP),
    floorMs: Math.ceil(calls / EDGE_CAP) * latencyMs,
    ...summary(measured[i].timings),
    peak: measured[i].peak,
  }));
  const oneByOneOverBulk = ratio(rows[0].medianMs, rows[1].medianMs);
  console.error(`  bulk: ${rows.map((row) => `${row.contender} ${row.medianMs} ms`).join("; ")}; ${oneByOneOverBulk} x`);
  return {
    date: new Date().toISOString(),
    n,
    latencyMs,
    size,
    cap: EDGE_CAP,
    settings: fanoutSettings({ concurrency: EDGE_CAP }),
    rows,
    oneByOneOverBulk,
  };
}

function bulkReport(figures) {
  const lines = [
    `Bulk calls under ${figures.cap} slots (a forEach of ${figures.n} items, ${figures.latencyMs} ms each call; median / p90 ms of ${figures.rows[0]?.runs} runs; floor = waves x ${figures.latencyMs} ms; peak = most calls open at the upstream)`,
    `  fanout: ${settingsText(figures.settings)}`,
    "forEach        | calls | waves | floor   | wall            | peak",
  ];
  for (const row of figures.rows)
    lines.push(
      `${row.contender.padEnd(14)} | ${String(row.calls).padEnd(5)} | ${String(row.waves).padEnd(5)} | ${`${row.floorMs} ms`.padEnd(7)} | ${`${row.medianMs} / ${row.p90Ms}`.padEnd(15)} | ${row.peak}`,
    );
  lines.push(`one by one / bulk: ${figures.oneByOneOverBulk} x`);
  return lines;
}

/** What a bulk run left out: a figure, or a contender over the six-slot cap. */
function bulkMissing(figures) {
  return figures.rows.flatMap((row) =>
    !(row.medianMs > 0)
      ? [`bulk ${row.contender}`]
      : row.peak > figures.cap
        ? [`bulk ${row.contender}: ${row.peak} calls open, over ${figures.cap}`]
        : [],
  );
}

/**
 * fanout with the shipped defaults (no overrides but API_KEYS and UPSTREAM_ALLOWLIST): the
 * N = 100 x L batch without `concurrency` or `deadlineMs`, so DEFAULT_CONCURRENCY (6) and
 * DEFAULT_DEADLINE_MS apply, and the N = 200 batch, which MAX_STEPS (100) refuses with a 400.
 */
async function shippedDefaults(c) {
  const headers = { authorization: `Bearer ${API_KEY}`, host: SHIPPED_HOST };
  const body = (n) => ({
    steps: delayUrls(c.upstream, Array(n).fill(PLAN.latencyMs)).map((url, i) => ({ id: `s${i}`, http: { url, maxRedirects: 0 } })),
  });
  const n = 100;
  for (let waited = 0; c.upstreamInFlight() > 0 && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
  c.resetPeak();
  const timings = await timed(async () => {
    const { status, json } = await postVia(`${c.origin}/v1/batch`, body(n), headers);
    if (status !== 200 || json.counts?.ok !== n)
      throw new Error(`shipped defaults, N=${n}: ${status} ${JSON.stringify(json).slice(0, 300)}`);
  }, PLAN.reps);
  const peak = c.peakSinceReset();
  const refused = await postVia(`${c.origin}/v1/batch`, body(200), headers);
  if (refused.status === 200) throw new Error(`the ${SHIPPED_HOST} route did not reach the shipped-defaults worker (N=200 was accepted)`);
  const floorMs = Math.ceil(n / EDGE_CAP) * PLAN.latencyMs;
  const figures = {
    date: new Date().toISOString(),
    settings: fanoutSettings({ env: {}, concurrency: null, deadlineMs: null }),
    rows: [
      { workload: `N=${n}`, n, latencyMs: PLAN.latencyMs, ...summary(timings), peak, floorMs, overFloor: ratio(median(timings), floorMs) },
      {
        workload: "N=200",
        n: 200,
        latencyMs: PLAN.latencyMs,
        refused: { status: refused.status, code: refused.json.code ?? null, detail: refused.json.detail ?? null },
      },
    ],
  };
  console.error(`  shipped defaults N=${n}: ${figures.rows[0].medianMs} ms (peak ${peak}); N=200: ${refused.status}`);
  return figures;
}

async function streaming(c) {
  const body = JSON.stringify({
    steps: [
      { id: "slow", http: { url: `${c.upstream}/delay?ms=1000` } },
      { id: "fast", http: { url: `${c.upstream}/delay?ms=10` } },
    ],
  });
  const firsts = [];
  const totals = [];
  for (let i = 0; i <= PLAN.streamingReps; i++) {
    const started = performance.now();
    const res = await fetch(`${c.origin}/v1/batch`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${API_KEY}`,
        "content-type": "application/json",
        accept: "application/x-ndjson",
        "accept-encoding": "gzip, br",
      },
      body,
    });
    const reader = res.body.getReader();
    let first;
    for (;;) {
      const { done } = await reader.read();
      first ??= performance.now() - started;
      if (done) break;
    }
    if (i > 0) {
      firsts.push(first);
      totals.push(performance.now() - started);
    }
  }
  return { firstResult: summary(firsts), complete: summary(totals), settings: fanoutSettings({ deadlineMs: null }) };
}

/** Where fanout's time goes: zero-latency upstreams leave only overhead (per request, scheduler, http path). */
async function overhead(c) {
  const n = QUICK ? 10 : 100;
  const post = (steps) =>
    postJson(`${c.origin}/v1/batch`, { steps, concurrency: n, deadlineMs: DEADLINE_MS }, { authorization: `Bearer ${API_KEY}` });
  const reps = QUICK ? 1 : 15;
  const urls = delayUrls(c.upstream, Array(n).fill(0));
  const waits = (count) => Array.from({ length: count }, (_, i) => ({ id: `w${i}`, wait: { ms: 0 } }));
  const rows = {
    n,
    settings: fanoutSettings({ concurrency: n }),
    promiseAllHttp: summary(await timed(() => c.all(urls), reps)),
    fanoutHttp: summary(await timed(() => c.fanout(urls), reps)),
    fanoutWaits: summary(await timed(() => post(waits(n)), reps)),
    fanoutOneWait: summary(await timed(() => post(waits(1)), reps)),
  };
  rows.perStepSchedulerMs = round((rows.fanoutWaits.medianMs - rows.fanoutOneWait.medianMs) / (n - 1), 3);
  rows.perStepHttpOverReferenceMs = round((rows.fanoutHttp.medianMs - rows.promiseAllHttp.medianMs) / n, 3);
  return rows;
}

async function throughput(c) {
  const steps = [0, 1, 2].map((i) => ({ id: `s${i}`, http: { url: `${c.upstream}/delay?ms=0&t=${i}`, maxRedirects: 0 } }));
  const load = (url, body, headers) =>
    new Promise((resolve, reject) =>
      autocannon(
        {
          url,
          method: "POST",
          body: JSON.stringify(body),
          headers: { "content-type": "application/json", ...headers },
          connections: 50,
          duration: PLAN.throughputSeconds,
        },
        (error, result) =>
          error
            ? reject(error)
            : resolve({
                requestsPerSecond: round(result.requests.average),
                p50Ms: result.latency.p50,
                p99Ms: result.latency.p99,
                non2xx: result.non2xx,
                errors: result.errors,
                total: result.requests.total,
              }),
      ),
    );
  const fanout = await load(`${c.origin}/v1/batch`, { steps }, { authorization: `Bearer ${API_KEY}` });
  const fanoutNoAudit = await load(`${c.origin}/v1/batch`, { steps }, { authorization: `Bearer ${API_KEY}`, host: NO_AUDIT_HOST });
  const reference = await load(`${c.origin}/__reference/all`, { urls: steps.map((step) => step.http.url) }, {});
  return {
    fanout,
    fanoutNoAudit,
    promiseAll: reference,
    settings: { ...fanoutSettings({ deadlineMs: null }), fanoutNoAudit: "AUDIT_ENABLED=false on top" },
  };
}

/**
 * The contenders of the paired CPU workload, each in a workerd of its own. `bareWithHop` is the bare
 * Worker with Miniflare's outbound hop left in, to show what that hop costs.
 */
const CPU_CONTENDERS = ["fanout", "fanoutNoAudit", "bare", "fair", "bareWithHop"];
/** The batch sizes of the CPU rows. */
const CPU_STEPS = [1, 3, 10, 100];

/** The median and interquartile range (nearest-rank quartiles) of paired ratios `a[i] / b[i]`. */
function paired(a, b) {
  const ratios = a.map((value, i) => value / b[i]);
  return { median: round(median(ratios), 3), iqr: [round(quantile(ratios, 0.25), 3), round(quantile(ratios, 0.75), 3)] };
}

/**
 * CPU time workerd spends per request (what the edge bills), measured in pairs. fanout (audit on),
 * fanout with AUDIT_ENABLED=false, the bare Promise.all Worker and the hand-written Worker with
 * fanout's per-call guarantees each run in a Miniflare of their own (so each has a workerd process of
 * its own), all without Miniflare's outbound hop (NO_OUTBOUND_HOP); a second bare Worker keeps the
 * hop, to show what it costs. The requests alternate between them within one run: in each round
 * every contender takes one turn of `perTurn` sequential requests, in an order that rotates from
 * round to round, and a contender's CPU for the round is
 * its workerd's CPU time (every thread's, /proc/<pid>/task/<tid>/schedstat, nanoseconds) from the
 * start of its turn to the start of its next one, so its post-response work (the audit's Queue send
 * and the consumer's D1 write) is counted in the round it falls in. A round's ratios compare turns
 * taken moments apart on the same machine, so the machine's drift (other processes, frequency,
 * cache) cancels; the row reports the median of the per-round ratios and their interquartile range.
 * Against a 0 ms upstream in both framings (Content-Length and chunked).
 */
async function cpu(script, upstreamOrigin) {
  const common = { host: "127.0.0.1", port: 0, cf: false, log: new Log(LogLevel.WARN) };
  const alone = async (worker, hop = NO_OUTBOUND_HOP) => startIsolatedMiniflare({ ...common, workers: [{ ...worker, ...hop }] });
  const sides = {};
  try {
    sides.fanout = await alone(fanoutWorker("fanout", { script, upstreamOrigin }));
    sides.fanoutNoAudit = await alone(fanoutWorker("fanout", { script, upstreamOrigin, bindings: { AUDIT_ENABLED: "false" } }));
    sides.bare = await alone(referenceWorker());
    sides.fair = await alone(fairWorker("fair", { upstreamOrigin }));
    sides.bareWithHop = await alone(referenceWorker(), {});
    await applyMigrations(sides.fanout.mf);
    const send = {
      fanout: (urls) => postBatch(sides.fanout.url.origin, urls),
      fanoutNoAudit: (urls) => postBatch(sides.fanoutNoAudit.url.origin, urls),
      bare: (urls) => postBare(sides.bare.url.origin, urls),
      bareWithHop: (urls) => postBare(sides.bareWithHop.url.origin, urls),
      fair: async (urls) => {
        const result = await postJson(`${sides.fair.url.origin}/__fair/all`, { urls, maxRedirects: 0 });
        if (result.counts.ok !== urls.length) throw new Error(`fair: ${JSON.stringify(result.counts)}`);
      },
    };
    const { rounds, warmupTurns } = PLAN.cpu;
    const rows = [];
    for (const steps of CPU_STEPS) {
      const perTurn = PLAN.cpu.perTurn[steps];
      for (const [upstream, framing] of Object.entries(FRAMINGS)) {
        const urls = Array.from({ length: steps }, (_, i) => `${upstreamOrigin}/delay?ms=0&framing=${framing}&i=${i}`);
        for (const name of CPU_CONTENDERS) for (let i = 0; i < warmupTurns * perTurn; i++) await send[name](urls); // compiled code, open connections
        await new Promise((resolve) => setTimeout(resolve, 300)); // the warm-up's post-response work
        const readings = Object.fromEntries(CPU_CONTENDERS.map((name) => [name, []]));
        for (let round = 0; round < rounds; round++) {
          for (let turn = 0; turn < CPU_CONTENDERS.length; turn++) {
            const name = CPU_CONTENDERS[(round + turn) % CPU_CONTENDERS.length];
            readings[name].push(cpuNs(sides[name].pids));
            for (let i = 0; i < perTurn; i++) await send[name](urls);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 300)); // the last turns' post-response work
        // Per contender, per round: CPU ms per request.
        const ms = {};
        for (const name of CPU_CONTENDERS) {
          const marks = [...readings[name], cpuNs(sides[name].pids)];
          ms[name] = marks.slice(1).map((mark, i) => (mark - marks[i]) / 1e6 / perTurn);
        }
        const sum = (values) => values.reduce((total, value) => total + value, 0);
        const fairOverBare = paired(ms.fair, ms.bare);
        const hopOverBare = paired(ms.bareWithHop, ms.bare);
        for (const [audit, name] of [
          ["on", "fanout"],
          ["off", "fanoutNoAudit"],
        ]) {
          const overBare = paired(ms[name], ms.bare);
          const overFair = paired(ms[name], ms.fair);
          rows.push({
            steps,
            upstream,
            audit,
            fanoutMs: round(median(ms[name]), 3),
            bareMs: round(median(ms.bare), 3),
            fairMs: round(median(ms.fair), 3),
            ratioBare: overBare.median,
            ratioFair: overFair.median,
            spread: { bare: overBare.iqr, fair: overFair.iqr },
            ratioFairOverBare: fairOverBare.median,
            spreadFairOverBare: fairOverBare.iqr,
            extraMsOverBare: round(median(ms[name].map((value, i) => value - ms.bare[i])), 3),
            ratioOfTotals: { bare: round(sum(ms[name]) / sum(ms.bare), 3), fair: round(sum(ms[name]) / sum(ms.fair), 3) },
            bareWithHopMs: round(median(ms.bareWithHop), 3),
            ratioBareWithHop: hopOverBare.median,
            pairs: rounds,
            requestsPerTurn: perTurn,
          });
        }
        const [on, off] = rows.slice(-2);
        console.error(
          `  cpu ${steps}-step, ${upstream}: fanout ${on.fanoutMs} ms (audit off ${off.fanoutMs}), bare ${on.bareMs}, fair ${on.fairMs} ms per request; fanout/bare ${on.ratioBare} [${on.spread.bare.join("-")}] (audit off ${off.ratioBare}), fanout/fair ${on.ratioFair} (audit off ${off.ratioFair})`,
        );
      }
    }
    return {
      date: new Date().toISOString(),
      method:
        "paired: contenders alternate within one run, each in its own workerd; CPU per thread from /proc/<pid>/task/*/schedstat (ns); median of the per-round ratios, spread = [q1, q3] of those ratios",
      rounds,
      settings: {
        ...fanoutSettings({ concurrency: "N" }),
        audit: 'rows with audit "off" run a second fanout with AUDIT_ENABLED=false',
        bare: "test/bench/reference-worker.js, POST /__reference/all (fetch + json() in a Promise.all)",
        fair: "test/bench/fair-worker.js, POST /__fair/all with maxRedirects 0 (fanout's per-call guarantees, by hand)",
        miniflare:
          "stripCfConnectingIp: false on every contender (no outbound hop) but bareWithHop, the bare Worker with Miniflare's default",
      },
      rows,
    };
  } finally {
    for (const side of Object.values(sides)) await side.mf.dispose();
  }
}

async function postBare(origin, urls) {
  const result = await postJson(`${origin}/__reference/all`, { urls });
  if (result.statuses.some((status) => status !== 200)) throw new Error(`bare: ${result.statuses}`);
}

async function postBatch(origin, urls) {
  const steps = urls.map((url, i) => ({ id: `s${i}`, http: { url, maxRedirects: 0 } }));
  const result = await postJson(
    `${origin}/v1/batch`,
    { steps, concurrency: Math.max(1, urls.length), deadlineMs: DEADLINE_MS },
    { authorization: `Bearer ${API_KEY}` },
  );
  if (result.counts.ok !== urls.length) throw new Error(`fanout: ${JSON.stringify(result.counts)}`);
}

function ratio(a, b) {
  return a && b ? round(a / b, 2) : null;
}

function report(results) {
  const lines = [];
  lines.push(
    `fanout benchmarks (${results.quick ? "quick" : "full"}) on ${results.machine.cpu} x${results.machine.cores}, Node ${results.machine.node}, ${results.date}`,
  );
  lines.push("");
  lines.push("Fan-out scaling (median / p90 ms, client-observed)");
  lines.push(`  fanout: ${settingsText(results.scaling[0]?.settings).replace(/concurrency \d+/, "concurrency N")}`);
  lines.push(
    "workload                 | fanout          | Promise.all     | sequential        | asyncio+aiohttp | fanout/all | fanout/seq | fanout/asyncio",
  );
  for (const row of results.scaling) {
    const cell = (stats) =>
      (stats?.medianMs !== undefined ? `${stats.medianMs} / ${stats.p90Ms}` : stats?.skipped ? "skipped" : "-").padEnd(15);
    lines.push(
      `${row.workload.padEnd(24)} | ${cell(row.fanout)} | ${cell(row.promiseAll)} | ${cell(row.sequential).padEnd(17)} | ${cell(row.asyncio)} | ${String(row.ratios.fanoutOverPromiseAll).padEnd(10)} | ${String(row.ratios.fanoutOverSequential).padEnd(10)} | ${row.ratios.fanoutOverAsyncio}`,
    );
  }
  lines.push("");
  lines.push("Critical path (median ms; efficiency = depth x L / wall)");
  lines.push(`  settings: ${settingsText(results.criticalPath[0]?.settings)}`);
  for (const row of results.criticalPath)
    lines.push(`${row.shape.padEnd(24)} | ${String(row.medianMs).padEnd(8)} | efficiency ${row.efficiency}`);
  if (results.schedule) lines.push("", ...scheduleReport(results.schedule));
  if (results.edgeCap) lines.push("", ...edgeCapReport(results.edgeCap));
  if (results.shippedDefaults) lines.push("", ...shippedReport(results.shippedDefaults));
  if (results.slots) lines.push("", ...slotsReport(results.slots));
  if (results.bulk) lines.push("", ...bulkReport(results.bulk));
  lines.push("");
  lines.push(
    `Streaming: first NDJSON result after ${results.streaming.firstResult.medianMs} ms (p90 ${results.streaming.firstResult.p90Ms}), complete after ${results.streaming.complete.medianMs} ms (${settingsText(results.streaming.settings)})`,
  );
  lines.push("");
  const o = results.overhead;
  lines.push(`Overhead (${settingsText(o.settings)})`);
  lines.push(
    `Overhead with ${o.n} zero-latency calls (median ms): Promise.all ${o.promiseAllHttp.medianMs}, fanout http ${o.fanoutHttp.medianMs}, fanout ${o.n} waits ${o.fanoutWaits.medianMs}, fanout 1 wait ${o.fanoutOneWait.medianMs}`,
  );
  lines.push(`  per step: scheduler ${o.perStepSchedulerMs} ms, http path over a bare fetch ${o.perStepHttpOverReferenceMs} ms`);
  lines.push("");
  const t = results.throughput;
  lines.push(`Throughput (3-step batch, 0 ms upstream, 50 connections, ${PLAN.throughputSeconds} s; ${settingsText(t.settings)})`);
  lines.push(
    `  fanout      ${t.fanout.requestsPerSecond} req/s, p50 ${t.fanout.p50Ms} ms, p99 ${t.fanout.p99Ms} ms, non-2xx ${t.fanout.non2xx}, errors ${t.fanout.errors}`,
  );
  lines.push(
    `  fanout, AUDIT_ENABLED=false ${t.fanoutNoAudit.requestsPerSecond} req/s, p50 ${t.fanoutNoAudit.p50Ms} ms, p99 ${t.fanoutNoAudit.p99Ms} ms, non-2xx ${t.fanoutNoAudit.non2xx}, errors ${t.fanoutNoAudit.errors}`,
  );
  lines.push(
    `  Promise.all ${t.promiseAll.requestsPerSecond} req/s, p50 ${t.promiseAll.p50Ms} ms, p99 ${t.promiseAll.p99Ms} ms, non-2xx ${t.promiseAll.non2xx}, errors ${t.promiseAll.errors}`,
  );
  lines.push(
    `  fanout / Promise.all throughput: ${ratio(t.fanout.requestsPerSecond, t.promiseAll.requestsPerSecond)} (without the audit write: ${ratio(t.fanoutNoAudit.requestsPerSecond, t.promiseAll.requestsPerSecond)})`,
  );
  lines.push("");
  lines.push(...cpuReport(results.cpu));
  return lines.join("\n");
}

function cpuReport(figures) {
  const lines = [
    `CPU per request, paired (${figures.rounds} rounds; contenders alternate, each in its own workerd, CPU per thread from /proc/<pid>/task/*/schedstat; no Miniflare outbound hop; 0 ms upstream)`,
    `  settings: ${settingsText({ env: figures.settings.env, batch: figures.settings.batch })}`,
    "  ratios: median of the per-round paired ratios [interquartile range]; ms: median CPU ms per request",
    "steps | upstream       | audit | req/turn | fanout ms | bare ms | fair ms | fanout/bare         | fanout/fair         | fair/bare           | fanout-bare ms | bare with Miniflare's hop / bare",
  ];
  const withSpread = (ratio, [q1, q3]) => `${ratio} [${q1}-${q3}]`.padEnd(19);
  for (const row of figures.rows) {
    lines.push(
      [
        String(row.steps).padEnd(5),
        row.upstream.padEnd(14),
        row.audit.padEnd(5),
        String(row.requestsPerTurn).padEnd(8),
        String(row.fanoutMs).padEnd(9),
        String(row.bareMs).padEnd(7),
        String(row.fairMs).padEnd(7),
        withSpread(row.ratioBare, row.spread.bare),
        withSpread(row.ratioFair, row.spread.fair),
        withSpread(row.ratioFairOverBare, row.spreadFairOverBare),
        String(row.extraMsOverBare).padEnd(14),
        row.ratioBareWithHop,
      ].join(" | "),
    );
  }
  return lines;
}

function slotsReport(figures) {
  const lines = [
    `Slow bodies under ${figures.cap} slots (${figures.n} calls, headers at once, each body ${figures.bodyMs} ms later; median / p90 ms of ${figures.rows[0]?.runs} runs; peak = most calls open at the upstream)`,
    `  fanout: ${settingsText({ env: figures.settings.env, batch: figures.settings.batch })}; floors: slot held until the body is read ${figures.floorMs.body} ms, freed at headers ${figures.floorMs.headers} ms`,
    "contender | slot held until | wall            | peak | fanout / this",
  ];
  for (const row of figures.rows)
    lines.push(
      `${row.contender.padEnd(9)} | ${row.release.padEnd(15)} | ${`${row.medianMs} / ${row.p90Ms}`.padEnd(15)} | ${String(row.peak).padEnd(4)} | ${row.fanoutOverThis}`,
    );
  return lines;
}

function scheduleReport(rows) {
  const lines = [
    "Scheduling under 6 slots (median ms; best = computed critical-path list schedule, FIFO = computed FIFO schedule)",
    `  settings: ${settingsText(rows[0]?.settings)}`,
  ];
  for (const row of rows)
    lines.push(
      `${row.dag.padEnd(40)} | ${row.variant.padEnd(28)} | ${String(row.medianMs).padEnd(7)} | best ${row.computedBestMs} | FIFO ${row.computedFifoMs} | fanout/best ${row.overBest} | speed-up vs FIFO ${row.speedUpVsFifo}`,
    );
  return lines;
}

function edgeCapReport(figures) {
  const lines = [
    `Under the edge's ${figures.cap}-connection cap (median / p90 ms, client-observed; peak = most upstream calls in flight; floor = ceil(N / ${figures.cap}) x L, or the list schedule of the mixed latencies on ${figures.cap} slots)`,
    `  fanout: ${settingsText({ env: figures.settings.env, batch: figures.settings.batch })}; reference-${figures.cap}: ${figures.settings.reference6}; asyncio-${figures.cap}: ${figures.settings.asyncio6}`,
    "workload                 | fanout          | peak | reference-6     | peak | asyncio-6       | peak | floor  | fanout/ref-6 | fanout/asyncio-6 | fanout/floor",
  ];
  const cell = (stats) =>
    (stats?.medianMs !== undefined ? `${stats.medianMs} / ${stats.p90Ms}` : stats?.skipped ? "skipped" : "-").padEnd(15);
  const peak = (stats) => String(stats?.peak ?? "-").padEnd(4);
  for (const row of figures.rows)
    lines.push(
      `${row.workload.padEnd(24)} | ${cell(row.fanout)} | ${peak(row.fanout)} | ${cell(row.reference6)} | ${peak(row.reference6)} | ${cell(row.asyncio6)} | ${peak(row.asyncio6)} | ${String(row.floorMs).padEnd(6)} | ${String(row.ratios.fanoutOverReference6).padEnd(12)} | ${String(row.ratios.fanoutOverAsyncio6).padEnd(16)} | ${row.ratios.fanoutOverFloor}`,
    );
  return lines;
}

function shippedReport(figures) {
  const lines = [`fanout with the shipped defaults (${settingsText(figures.settings)})`];
  for (const row of figures.rows)
    lines.push(
      row.refused
        ? `  ${row.workload} x ${row.latencyMs} ms: refused, ${row.refused.status} ${row.refused.code}: ${row.refused.detail}`
        : `  ${row.workload} x ${row.latencyMs} ms: ${row.medianMs} / ${row.p90Ms} ms (median / p90), peak ${row.peak} in flight, floor ${row.floorMs} ms (fanout/floor ${row.overFloor})`,
    );
  return lines;
}

/** An asyncio figure is missing when it has none, unless it was skipped (aiohttp not installed) outside CI. */
const asyncioMissing = (stats) => !(stats?.medianMs > 0) && !(stats?.skipped && !CI);

/** Every contender must have produced a figure (asyncio may be skipped when aiohttp is missing, except under CI=true). */
function missingFigures(results) {
  const missing = [];
  for (const row of results.scaling ?? []) {
    for (const name of ["fanout", "promiseAll"]) if (!(row[name]?.medianMs > 0)) missing.push(`${row.workload} ${name}`);
    if (row.sequential !== null && !(row.sequential?.medianMs > 0)) missing.push(`${row.workload} sequential`);
    if (asyncioMissing(row.asyncio)) missing.push(`${row.workload} asyncio${row.asyncio?.skipped ? " (skipped under CI)" : ""}`);
  }
  if (results.edgeCap) {
    for (const row of results.edgeCap.rows) {
      for (const name of ["fanout", "reference6", "asyncio6"]) {
        const stats = row[name];
        if (name === "asyncio6" ? asyncioMissing(stats) : !(stats?.medianMs > 0))
          missing.push(`edge cap ${row.workload} ${name}${stats?.skipped ? " (skipped under CI)" : ""}`);
        else if (stats?.medianMs > 0 && !(stats.peak > 0 && stats.peak <= results.edgeCap.cap))
          missing.push(`edge cap ${row.workload} ${name}: ${stats.peak} calls in flight, over the cap of ${results.edgeCap.cap}`);
      }
    }
  }
  if (results.shippedDefaults) {
    const [accepted, refused] = results.shippedDefaults.rows;
    if (!(accepted?.medianMs > 0)) missing.push("shipped defaults N=100");
    else if (!(accepted.peak > 0 && accepted.peak <= EDGE_CAP)) missing.push(`shipped defaults N=100: ${accepted.peak} calls in flight`);
    if (refused?.refused?.status !== 400) missing.push(`shipped defaults N=200: expected a 400, got ${refused?.refused?.status}`);
  }
  for (const row of results.cpu?.rows ?? [])
    for (const name of ["fanoutMs", "bareMs", "fairMs", "ratioBare", "ratioFair", "bareWithHopMs"])
      if (!(row[name] > 0)) missing.push(`cpu ${row.steps}-step ${row.upstream} audit ${row.audit} ${name}`);
  if (results.cpu && results.cpu.rows.length !== CPU_STEPS.length * Object.keys(FRAMINGS).length * 2) missing.push("cpu rows");
  for (const row of results.slots?.rows ?? []) {
    if (!(row.medianMs > 0)) missing.push(`slots ${row.contender} (${row.release})`);
    // A limiter that holds the slot until the body is read keeps at most six calls open at the upstream.
    else if (row.release === "body" && !(row.peak > 0 && row.peak <= results.slots.cap))
      missing.push(`slots ${row.contender} (${row.release}): ${row.peak} calls open, over the cap of ${results.slots.cap}`);
  }
  if (results.bulk) missing.push(...bulkMissing(results.bulk));
  if (!results.scaling) return missing; // a partial run (--only)
  if (!results.slots) missing.push("slots");
  for (const row of results.criticalPath) if (!(row.medianMs > 0)) missing.push(row.shape);
  for (const row of results.schedule ?? []) if (!(row.medianMs > 0)) missing.push(`schedule ${row.dag} ${row.variant}`);
  if (!(results.streaming.firstResult.medianMs > 0)) missing.push("streaming");
  for (const name of ["promiseAllHttp", "fanoutHttp", "fanoutWaits", "fanoutOneWait"])
    if (!(results.overhead[name].medianMs > 0)) missing.push(`overhead ${name}`);
  for (const name of ["fanout", "fanoutNoAudit", "promiseAll"]) {
    const figure = results.throughput[name];
    if (!(figure.requestsPerSecond > 0) || figure.non2xx > 0) missing.push(`throughput ${name} (${figure.non2xx} non-2xx)`);
  }
  return missing;
}

function chartOf(results) {
  const rows = results.scaling.filter((row) => !row.mixed);
  const line = (label, pick) => ({ label, points: rows.filter(pick).map((row) => ({ x: row.n, y: pick(row).medianMs })) });
  return lineChartSvg({
    title: "fanout: wall time vs. number of concurrent upstream calls",
    subtitle: `${PLAN.latencyMs} ms upstream latency, median of ${PLAN.reps}; ${results.machine.cpu} x${results.machine.cores}, ${results.date.slice(0, 10)}`,
    xLabel: "N (independent HTTP calls)",
    yLabel: "client-observed wall time (log scale)",
    series: [
      line("fanout POST /v1/batch", (row) => row.fanout),
      line("bare Promise.all", (row) => row.promiseAll),
      line("sequential awaits", (row) => row.sequential),
      ...(results.machine.python ? [line("asyncio + aiohttp", (row) => (row.asyncio?.medianMs ? row.asyncio : undefined))] : []),
    ],
  });
}

/** Replaces one workload's figures in the committed results.json (`--only <workload> --merge`). */
function merge(key, figures) {
  const file = join(root, "test/bench/results.json");
  const results = JSON.parse(readFileSync(file, "utf8"));
  results[key] = figures;
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.error(`replaced ${key} in ${file}`);
}

async function main() {
  if (process.argv.includes("--render")) {
    // Redraws the chart from the committed results without running anything.
    const results = JSON.parse(readFileSync(join(root, "test/bench/results.json"), "utf8"));
    writeFileSync(join(root, "test/bench/fanout-scaling.svg"), chartOf(results));
    return;
  }
  console.error(`building the Worker and starting the loopback upstream (${QUICK ? "quick" : "full"} run)...`);
  const script = build();
  const upstream = await startUpstream();
  if (ONLY === "cpu") {
    // Its own Miniflare instances only: nothing else running in a workerd meanwhile.
    try {
      const figures = await cpu(script, upstream.origin);
      console.log(cpuReport(figures).join("\n"));
      const missing = missingFigures({ cpu: figures });
      if (missing.length > 0) {
        console.error(`missing figures (nothing merged): ${missing.join(", ")}`);
        process.exitCode = 1;
      } else if (MERGE) merge("cpu", figures);
      if (!MERGE || missing.length > 0) console.log(JSON.stringify(figures, null, 2));
    } finally {
      await upstream.close();
    }
    return;
  }
  const { mf, origin } = await startWorkers(script, upstream.origin);
  const python = pythonWithAiohttp();
  try {
    const c = { ...contenders({ origin, upstream, python }), origin };
    if (ONLY === "cap") {
      const figures = { edgeCap: await edgeCap(c), shippedDefaults: await shippedDefaults(c) };
      console.log([...edgeCapReport(figures.edgeCap), "", ...shippedReport(figures.shippedDefaults)].join("\n"));
      const missing = missingFigures(figures);
      if (missing.length > 0) {
        console.error(`missing figures (nothing merged): ${missing.join(", ")}`);
        process.exitCode = 1;
      } else if (MERGE) for (const [key, value] of Object.entries(figures)) merge(key, value);
      if (!MERGE || missing.length > 0) console.log(JSON.stringify(figures, null, 2));
      return;
    }
    if (ONLY === "slots") {
      const figures = await slots(c);
      console.log(slotsReport(figures).join("\n"));
      const missing = missingFigures({ slots: figures });
      if (missing.length > 0) {
        console.error(`missing figures (nothing merged): ${missing.join(", ")}`);
        process.exitCode = 1;
      } else if (MERGE) merge("slots", figures);
      if (!MERGE || missing.length > 0) console.log(JSON.stringify(figures, null, 2));
      return;
    }
    if (ONLY === "bulk") {
      const figures = await bulk(c);
      console.log(bulkReport(figures).join("\n"));
      const missing = bulkMissing(figures);
      if (missing.length > 0) {
        console.error(`missing figures (nothing merged): ${missing.join(", ")}`);
        process.exitCode = 1;
      } else if (MERGE) merge("bulk", figures);
      if (!MERGE || missing.length > 0) console.log(JSON.stringify(figures, null, 2));
      return;
    }
    if (ONLY) {
      const workloads = { scaling, critical: criticalPath, schedule, streaming, throughput, overhead };
      if (!workloads[ONLY])
        throw new Error(`--only ${ONLY}: no such workload (${[...Object.keys(workloads), "cpu", "cap", "slots", "bulk"].join(", ")})`);
      const figures = await workloads[ONLY](c);
      if (ONLY === "schedule") console.log(scheduleReport(figures).join("\n"));
      console.log(JSON.stringify(figures, null, 2));
      if (MERGE) merge(ONLY === "critical" ? "criticalPath" : ONLY, figures);
      return;
    }
    const scalingRows = await scaling(c);
    for (const row of scalingRows) {
      row.ratios = {
        fanoutOverPromiseAll: ratio(row.fanout.medianMs, row.promiseAll.medianMs),
        fanoutOverSequential: ratio(row.fanout.medianMs, row.sequential?.medianMs),
        fanoutOverAsyncio: ratio(row.fanout.medianMs, row.asyncio?.medianMs),
      };
    }
    console.error("  critical path...");
    const criticalPathRows = await criticalPath(c);
    console.error("  schedule...");
    const scheduleRows = await schedule(c);
    console.error("  edge cap...");
    const edgeCapResult = await edgeCap(c);
    const shippedResult = await shippedDefaults(c);
    console.error("  streaming...");
    const streamingResult = await streaming(c);
    console.error("  overhead...");
    const overheadResult = await overhead(c);
    console.error("  throughput...");
    const throughputResult = await throughput(c);
    console.error("  slots...");
    const slotsResult = await slots(c);
    console.error("  bulk...");
    const bulkResult = await bulk(c);
    console.error("  cpu...");
    // After the others, in Miniflare instances of its own; the shared one is idle meanwhile.
    const cpuResult = await cpu(script, upstream.origin);
    const results = {
      quick: QUICK,
      date: new Date().toISOString(),
      machine: {
        cpu: cpus()[0]?.model ?? "unknown",
        cores: cpus().length,
        memoryGiB: round(totalmem() / 2 ** 30, 0),
        node: process.version,
        python: python ?? null,
      },
      upstream: { peakConcurrentRequests: upstream.peak() },
      scaling: scalingRows,
      criticalPath: criticalPathRows,
      schedule: scheduleRows,
      edgeCap: edgeCapResult,
      shippedDefaults: shippedResult,
      streaming: streamingResult,
      overhead: overheadResult,
      throughput: throughputResult,
      slots: slotsResult,
      bulk: bulkResult,
      cpu: cpuResult,
    };
    console.log(report(results));
    const outDir = QUICK ? mkdtempSync(join(tmpdir(), "fanout-bench-results-")) : join(root, "test/bench");
    writeFileSync(join(outDir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
    const svg = chartOf(results);
    writeFileSync(join(outDir, "fanout-scaling.svg"), svg);
    console.error(`wrote ${join(outDir, "results.json")} and fanout-scaling.svg`);
    const missing = missingFigures(results);
    if (missing.length > 0) {
      console.error(`missing figures: ${missing.join(", ")}`);
      process.exitCode = 1;
    }
  } finally {
    await mf.dispose();
    await upstream.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
