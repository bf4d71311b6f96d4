#!/usr/bin/env node
// fanout's soak: serves the built gateway with Miniflare, sends N three-step batches at a fixed rate
// to a loopback upstream, and watches the resident memory (VmRSS) of the workerd process. Prints the
// RSS every 1,000 requests and, at the end, the least-squares slope in KiB/request over the second
// half, then the same for a /healthz-only control run in a fresh workerd.
//   npm run soak                                   20,000 batches at 100/s, then 20,000 /healthz (8-10 min on 2 cores)
//   npm run soak -- --batches 4000 --rate 200      shorter
//   npm run soak -- --workload bare --no-control   one workload only (see WORKLOADS): `bare` is the runtime's own baseline
// Options: --batches N, --rate R (requests/s), --workload NAME, --audit off (AUDIT_ENABLED=false),
// --no-control, --max-slope K (exit 1 when the second-half slope is above K KiB/request), --port P
// (Miniflare's port; default any free one), --inspector-port P (at every printed sample, force a GC
// in each Worker through the inspector and print the JS heap left: tells retained JS objects from
// native memory). Exits 1 when a request fails or the run exceeds its time bound (3x the planned
// duration + 60 s). Loopback only; workerd and the upstream are stopped at the end.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { Log, LogLevel, Miniflare } from "miniflare";
import { API_KEY, applyMigrations, build, COMPATIBILITY, fanoutWorker, root } from "./miniflare.mjs";
import { startUpstream } from "./upstream.mjs";

const { values: args } = parseArgs({
  options: {
    batches: { type: "string", default: "20000" },
    rate: { type: "string", default: "100" },
    workload: { type: "string", default: "upstream" },
    audit: { type: "string", default: "on" },
    "no-control": { type: "boolean", default: false },
    "max-slope": { type: "string" },
    port: { type: "string", default: "0" },
    "inspector-port": { type: "string" },
  },
});

const positive = (name, text, max) => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) throw new Error(`--${name} must be an integer from 1 to ${max}, got ${text}`);
  return value;
};
const BATCHES = positive("batches", args.batches, 1_000_000);
const RATE = positive("rate", args.rate, 10_000);
const MAX_SLOPE = args["max-slope"] === undefined ? undefined : Number(args["max-slope"]);
const PORT = Number(args.port);
/** With an inspector port, every printed sample first forces a full GC in each worker and shows the JS heap left. */
const INSPECTOR_PORT = args["inspector-port"] === undefined ? undefined : Number(args["inspector-port"]);
/** RSS is read this often (in requests) for the fit, and printed every PRINT_EVERY. */
const SAMPLE_EVERY = 100;
const PRINT_EVERY = 1_000;
/** Requests in flight at most: the rate is fixed, but a slow gateway must not pile up unbounded work. */
const MAX_IN_FLIGHT = 64;

/**
 * What one request is. `upstream`: three http steps to the loopback upstream (absolute URLs);
 * `sim`: three http steps to relative /v1/sim/ URLs (answered in-process); `wait`: three wait steps
 * (no I/O); `bare`: a bare Worker doing the same three fetches with Promise.all; `healthz`: GET /healthz.
 */
const WORKLOADS = {
  upstream: (upstream) => batch([0, 1, 2].map((i) => ({ id: `s${i}`, http: { url: `${upstream}/delay?ms=0&s=${i}`, maxRedirects: 0 } }))),
  sim: () => batch([0, 1, 2].map((i) => ({ id: `s${i}`, http: { url: `/v1/sim/delay/0?s=${i}`, maxRedirects: 0 } }))),
  wait: () => batch([0, 1, 2].map((i) => ({ id: `s${i}`, wait: { ms: 0 } }))),
  bare: (upstream) => ({
    path: "/__reference/all",
    init: {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ urls: [0, 1, 2].map((i) => `${upstream}/delay?ms=0&s=${i}`) }),
    },
    check: (json) => json.statuses?.length === 3 && json.statuses.every((status) => status === 200),
  }),
  healthz: () => ({ path: "/healthz", init: {}, check: (json) => json.status === "ok" }),
};

function batch(steps) {
  return {
    path: "/v1/batch",
    init: {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ steps, deadlineMs: 30_000 }),
    },
    check: (json) => json.counts?.ok === steps.length,
  };
}

if (!Object.hasOwn(WORKLOADS, args.workload)) throw new Error(`--workload must be one of ${Object.keys(WORKLOADS).join(", ")}`);
if (!["on", "off"].includes(args.audit)) throw new Error("--audit must be on or off");

/** The workerd process Miniflare started: a child of this process (Linux /proc). */
function workerdPid() {
  const pids = [];
  for (const task of readdirSync(`/proc/${process.pid}/task`)) {
    const children = readFileSync(`/proc/${process.pid}/task/${task}/children`, "utf8").trim();
    if (children) pids.push(...children.split(/\s+/).map(Number));
  }
  const workerd = pids.filter((pid) => readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "workerd");
  if (workerd.length !== 1) throw new Error(`expected one workerd child process, found ${workerd.length}`);
  return workerd[0];
}

function rssKiB(pid) {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]);
}

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  const mx = points.reduce((sum, p) => sum + p.x, 0) / n;
  const my = points.reduce((sum, p) => sum + p.y, 0) / n;
  const sxx = points.reduce((sum, p) => sum + (p.x - mx) ** 2, 0);
  return sxx === 0 ? NaN : points.reduce((sum, p) => sum + (p.x - mx) * (p.y - my), 0) / sxx;
}

const mib = (kib) => (kib / 1024).toFixed(1);

async function startGateway(script, upstreamOrigin, workload) {
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: PORT,
    cf: false,
    ...(INSPECTOR_PORT ? { inspectorPort: INSPECTOR_PORT } : {}),
    log: new Log(LogLevel.WARN),
    workers: [
      fanoutWorker("fanout", {
        script,
        upstreamOrigin,
        bindings: { DEMO_ENABLED: "true", ...(args.audit === "off" ? { AUDIT_ENABLED: "false" } : {}) },
      }),
      ...(workload === "bare"
        ? [
            {
              name: "reference",
              modules: true,
              scriptPath: join(root, "test/bench/reference-worker.js"),
              ...COMPATIBILITY,
              routes: ["*/__reference/*"],
            },
          ]
        : []),
    ],
  });
  const url = await mf.ready;
  await applyMigrations(mf);
  return { mf, origin: url.origin };
}

/**
 * DevTools sessions (Miniflare's inspector proxy) to the isolates that serve requests: the Workers
 * (core:user:*) and Miniflare's entry Worker. Forces a full GC and reads the JS heap left.
 */
async function openInspector(port, origin) {
  const { WebSocket } = await import("ws"); // Miniflare's own dependency
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()).filter(
    (target) => target.id.startsWith("core:user:") || target.id === "core:entry",
  );
  const sessions = await Promise.all(
    targets.map(
      (target) =>
        new Promise((resolve, reject) => {
          const socket = new WebSocket(target.webSocketDebuggerUrl);
          const waiting = new Map();
          let nextId = 1;
          socket.on("message", (data) => {
            const message = JSON.parse(String(data));
            waiting.get(message.id)?.(message.result);
            waiting.delete(message.id);
          });
          socket.on("error", reject);
          socket.on("open", () => {
            const send = (method, params = {}) =>
              new Promise((done) => {
                const id = nextId++;
                waiting.set(id, done);
                socket.send(JSON.stringify({ id, method, params }));
              });
            // collectGarbage answers only when the heap profiler is enabled.
            send("HeapProfiler.enable").then(
              () => resolve({ name: target.id.replace(/^core:(user:)?/, ""), send, close: () => socket.close() }),
              reject,
            );
          });
        }),
    ),
  );
  return {
    /** JS heap used and committed after a full GC, in KiB, by isolate. */
    async heapAfterGc() {
      const collected = Promise.all(sessions.map((session) => session.send("HeapProfiler.collectGarbage")));
      // V8 runs the collection as a task on the isolate's thread, which workerd pumps when a request
      // arrives: poke every Worker until the collections are done.
      let done = false;
      collected.then(() => (done = true));
      while (!done) {
        await Promise.all(
          ["/healthz", "/__reference/poke"].map((path) =>
            fetch(`${origin}${path}`).then(
              (res) => res.arrayBuffer(),
              () => {},
            ),
          ),
        );
        await Promise.race([collected, new Promise((resolve) => setTimeout(resolve, 50))]);
      }
      const used = {};
      for (const session of sessions) {
        const { usedSize, totalSize } = await session.send("Runtime.getHeapUsage");
        used[session.name] = { used: Math.round(usedSize / 1024), total: Math.round(totalSize / 1024) };
      }
      return used;
    },
    close: () => {
      for (const session of sessions) session.close();
    },
  };
}

/** Sends `count` requests of `workload` at `rate`/s (at most MAX_IN_FLIGHT at once), sampling workerd's RSS. */
async function soak({ script, upstream, workload, count, rate }) {
  const { mf, origin } = await startGateway(script, upstream.origin, workload);
  const inspector = INSPECTOR_PORT ? await openInspector(INSPECTOR_PORT, origin) : undefined;
  const showHeap = async (label) => {
    if (!inspector) return;
    const heaps = await inspector.heapAfterGc();
    const sum = (field) => Object.values(heaps).reduce((total, heap) => total + heap[field], 0);
    const each = Object.entries(heaps)
      .map(([name, heap]) => `${name} ${mib(heap.used)}/${mib(heap.total)}`)
      .join(", ");
    console.log(
      `  ${label}: JS heap after GC ${mib(sum("used"))} MiB used, ${mib(sum("total"))} MiB committed (${each}); RSS ${mib(rssKiB(workerdPid()))} MiB`,
    );
  };
  try {
    const pid = workerdPid();
    await showHeap("at start");
    const request = WORKLOADS[workload](upstream.origin);
    const plannedMs = (count / rate) * 1000;
    // The time bound aborts the requests in flight; each has its own controller, since fetch() adds a
    // listener to the signal it is given and one shared signal would collect one per request.
    const inFlightControllers = new Set();
    const stop = AbortSignal.timeout(3 * plannedMs + 60_000);
    stop.addEventListener("abort", () => {
      for (const controller of inFlightControllers) controller.abort(stop.reason);
    });
    const samples = [{ x: 0, y: rssKiB(pid) }];
    console.log(
      `${workload}${args.audit === "off" ? " (AUDIT_ENABLED=false)" : ""}: ${count} requests at ${rate}/s, workerd pid ${pid}, RSS at start ${mib(samples[0].y)} MiB`,
    );
    let done = 0;
    let failures = 0;
    let firstFailure;
    let inFlight = 0;
    let slotFree = () => {};
    const started = performance.now();
    const one = async () => {
      const controller = new AbortController();
      inFlightControllers.add(controller);
      try {
        const res = await fetch(`${origin}${request.path}`, { ...request.init, signal: controller.signal });
        const json = await res.json();
        if (!res.ok || !request.check(json)) throw new Error(`${res.status} ${JSON.stringify(json).slice(0, 300)}`);
      } catch (error) {
        failures++;
        firstFailure ??= error;
      } finally {
        inFlightControllers.delete(controller);
        inFlight--;
        done++;
        if (done % SAMPLE_EVERY === 0 || done === count) samples.push({ x: done, y: rssKiB(pid) });
        if (done % PRINT_EVERY === 0 || done === count) {
          const seconds = (performance.now() - started) / 1000;
          console.log(
            `  ${String(done).padStart(7)} requests  RSS ${mib(samples.at(-1).y).padStart(7)} MiB  (${(done / seconds).toFixed(0)}/s)`,
          );
          void showHeap(`${done} requests`);
        }
        slotFree();
      }
    };
    const pending = [];
    for (let i = 0; i < count && !stop.aborted; i++) {
      const wait = started + (i * 1000) / rate - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      while (inFlight >= MAX_IN_FLIGHT && !stop.aborted) await new Promise((resolve) => (slotFree = resolve));
      inFlight++;
      pending.push(one());
    }
    await Promise.all(pending);
    const seconds = (performance.now() - started) / 1000;
    if (inspector) {
      await new Promise((resolve) => setTimeout(resolve, 3000)); // post-response work (the audit write) settles
      await showHeap("3 s after the last request");
      console.log(`  RSS then ${mib(rssKiB(pid))} MiB`);
    }
    const secondHalf = samples.filter((sample) => sample.x >= count / 2);
    const result = {
      workload,
      audit: args.audit,
      requests: done,
      failures,
      seconds: Math.round(seconds),
      startMiB: Number(mib(samples[0].y)),
      endMiB: Number(mib(samples.at(-1).y)),
      slopeKiBPerRequest: Math.round(slope(secondHalf) * 1000) / 1000,
      overallKiBPerRequest: Math.round(((samples.at(-1).y - samples[0].y) / Math.max(1, done)) * 1000) / 1000,
      timedOut: stop.aborted,
    };
    console.log(
      `  ${workload}: RSS ${result.startMiB} -> ${result.endMiB} MiB over ${done} requests in ${result.seconds} s; slope over the second half ${result.slopeKiBPerRequest} KiB/request (overall ${result.overallKiBPerRequest})`,
    );
    if (failures > 0)
      console.log(
        `  ${failures} requests failed; the first: ${firstFailure?.message ?? firstFailure}${firstFailure?.cause ? ` (${firstFailure.cause.code ?? firstFailure.cause.message})` : ""}`,
      );
    if (result.timedOut) console.log("  stopped: the run exceeded its time bound");
    return result;
  } finally {
    inspector?.close();
    await mf.dispose();
  }
}

async function main() {
  console.log("building the Worker and starting the loopback upstream...");
  const script = build();
  const upstream = await startUpstream();
  const results = [];
  try {
    results.push(await soak({ script, upstream, workload: args.workload, count: BATCHES, rate: RATE }));
    if (!args["no-control"] && args.workload !== "healthz")
      results.push(await soak({ script, upstream, workload: "healthz", count: BATCHES, rate: RATE }));
  } finally {
    await upstream.close();
    rmSync(dirname(script), { recursive: true, force: true });
  }
  const [main] = results;
  console.log(JSON.stringify(results));
  if (results.some((result) => result.failures > 0 || result.timedOut)) process.exitCode = 1;
  else if (MAX_SLOPE !== undefined && !(main.slopeKiBPerRequest <= MAX_SLOPE)) {
    console.log(`the slope ${main.slopeKiBPerRequest} KiB/request is above ${MAX_SLOPE} (--max-slope)`);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
