#!/usr/bin/env node
// `npm start`: checks that the port is free, migrates and seeds the local D1 database, KV namespace and R2 bucket
// (one line per stage), then runs `wrangler dev` with local.env, and stops wrangler and its workerd on SIGINT,
// SIGTERM and SIGHUP. `npm run setup:local` (this script with --seed-only) seeds without serving.
//
// PORT picks the port (default 8787). Arguments after `npm start --` go to `wrangler dev`; a `--port` among them
// wins over PORT, and `--persist-to DIR` seeds and serves DIR instead of .wrangler/state.
//
// The seeding runs in one process through wrangler's getPlatformProxy (about 3 s, against about 10 s for the four
// `wrangler d1|kv|r2 ... --local` commands it replaces), on the same files `wrangler dev` serves. Migrations are
// applied as `wrangler d1 migrations apply DB --local` applies them: recorded in its table, so either one can run next.

import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"];
/** This process's own signal listeners (none), before wrangler is imported. */
const ownListeners = new Map(SIGNALS.map((signal) => [signal, process.listeners(signal)]));

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "../..");
const SEED = "test/fixtures/seed";
const AVATAR = { bucket: "BUCKET", key: "avatars/1.png", file: `${SEED}/avatar.png`, contentType: "image/png" };
/** How long wrangler and workerd get to stop after SIGTERM before they are killed. */
const STOP_GRACE_MS = 5_000;

/** The value of `--name VALUE` or `--name=VALUE` in `args`, if given. */
function flag(args, name) {
  for (let index = 0; index < args.length; index++) {
    if (args[index] === name) return args[index + 1];
    if (args[index].startsWith(`${name}=`)) return args[index].slice(name.length + 1);
  }
  return undefined;
}

function fail(message, code = 1) {
  console.error(`npm start: ${message}`);
  process.exit(code);
}

/** Whether something already listens on `port`, on either loopback address wrangler dev binds for `localhost`. */
async function portTaken(port) {
  for (const host of ["127.0.0.1", "::1"]) {
    const code = await new Promise((settle) => {
      const probe = createServer();
      probe.once("error", (error) => settle(error.code));
      probe.listen({ port, host, exclusive: true }, () => probe.close(() => settle(undefined)));
    });
    if (code === "EADDRINUSE" || code === "EACCES") return true;
    // EADDRNOTAVAIL / EAFNOSUPPORT: no IPv6 loopback here, nothing can hold it.
  }
  return false;
}

/** A wrangler config with only the storage bindings of wrangler.toml: the seeding needs no Worker code. */
function storageOnlyConfig(config) {
  const dir = mkdtempSync(join(tmpdir(), "fanout-seed-"));
  const path = join(dir, "wrangler.json");
  const { name, compatibility_date, compatibility_flags, d1_databases, kv_namespaces, r2_buckets } = config;
  writeFileSync(path, JSON.stringify({ name, compatibility_date, compatibility_flags, d1_databases, kv_namespaces, r2_buckets }));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  // Also when a stop ends the process mid-seeding.
  process.once("exit", remove);
  return { path, remove };
}

const elapsed = (started) => `${((performance.now() - started) / 1000).toFixed(1)} s`;

/**
 * Importing wrangler adds SIGINT and SIGTERM listeners that exit this process at once (and getPlatformProxy leaves one
 * of its own): a stop could then neither dispose of the seeding's workerd nor wait for wrangler dev, which would be left
 * serving. They go, after the import and again before serving.
 */
function dropForeignListeners() {
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) if (!ownListeners.get(signal).includes(listener)) process.off(signal, listener);
  }
}

/** Thrown between seeding stages when a stop was asked for: the seeding's workerd is disposed of first. */
class Stopped extends Error {}

async function seed(stateDir) {
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
  const { getPlatformProxy, unstable_readConfig, unstable_splitSqlQuery } = await import("wrangler");
  dropForeignListeners();
  let stopSignal;
  const stop = (signal) => (stopSignal = signal);
  for (const signal of SIGNALS) process.on(signal, stop);
  const checkpoint = () => {
    if (stopSignal) throw new Stopped(`stopped by ${stopSignal} while seeding`);
  };

  const config = unstable_readConfig({ config: join(ROOT, "wrangler.toml") });
  const d1 = config.d1_databases.find((database) => database.binding === "DB");
  if (!d1) throw new Error("wrangler.toml has no D1 binding DB");
  const temporary = storageOnlyConfig(config);
  let proxy;
  try {
    proxy = await getPlatformProxy({
      configPath: temporary.path,
      envFiles: [],
      remoteBindings: false,
      persist: { path: join(stateDir, "v3") },
    });
    const { env } = proxy;
    checkpoint();
    const statements = (sql) => unstable_splitSqlQuery(sql).map((query) => env.DB.prepare(query));

    let started = performance.now();
    const table = d1.migrations_table ?? "d1_migrations";
    const migrationsDir = relative(ROOT, resolve(ROOT, d1.migrations_dir ?? "migrations"));
    await env.DB.exec(
      `CREATE TABLE IF NOT EXISTS ${table}(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL);`,
    );
    const applied = new Set((await env.DB.prepare(`SELECT name FROM ${table}`).all()).results.map((row) => row.name));
    const files = readdirSync(resolve(ROOT, migrationsDir))
      .filter((name) => name.endsWith(".sql"))
      .sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10));
    const pending = files.filter((name) => !applied.has(name));
    for (const name of pending) {
      const sql = readFileSync(resolve(ROOT, migrationsDir, name), "utf8");
      await env.DB.batch([...statements(sql), env.DB.prepare(`INSERT INTO ${table} (name) VALUES (?1)`).bind(name)]);
    }
    console.log(
      `seed 1/4  D1 migrations: ${pending.length} applied, ${files.length - pending.length} already (${migrationsDir}, ${elapsed(started)})`,
    );
    checkpoint();

    started = performance.now();
    const rows = statements(readFileSync(join(ROOT, SEED, "d1.sql"), "utf8"));
    await env.DB.batch(rows);
    console.log(`seed 2/4  D1 rows: ${rows.length} statements from ${SEED}/d1.sql (${elapsed(started)})`);
    checkpoint();

    started = performance.now();
    const entries = JSON.parse(readFileSync(join(ROOT, SEED, "kv.json"), "utf8"));
    for (const { key, value, base64 } of entries) await env.KV.put(key, base64 ? Buffer.from(value, "base64") : value);
    console.log(`seed 3/4  KV: ${entries.length} keys from ${SEED}/kv.json (${elapsed(started)})`);
    checkpoint();

    started = performance.now();
    const bytes = readFileSync(join(ROOT, AVATAR.file));
    // An ArrayBuffer: the proxy cannot send a Node Buffer.
    const body = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    await env[AVATAR.bucket].put(AVATAR.key, body, { httpMetadata: { contentType: AVATAR.contentType } });
    const bucket = config.r2_buckets.find((entry) => entry.binding === AVATAR.bucket)?.bucket_name;
    console.log(`seed 4/4  R2: ${bucket}/${AVATAR.key} (${bytes.length} bytes, ${AVATAR.contentType}, ${elapsed(started)})`);
    checkpoint();
  } finally {
    await proxy?.dispose();
    temporary.remove();
    for (const signal of SIGNALS) process.off(signal, stop);
  }
}

/** Seeds, or exits: 0 after a stop that was asked for, 1 when the seeding failed. */
async function seedOrExit(stateDir, shownDir) {
  try {
    await seed(stateDir);
  } catch (error) {
    if (error instanceof Stopped) {
      console.error(`npm start: ${error.message} ${shownDir}`);
      process.exit(0);
    }
    fail(`seeding ${shownDir} failed: ${error?.message ?? error}`);
  }
}

/** Runs `wrangler dev` in its own process group, so that a stop reaches workerd too, and exits when it does. */
function serve(port, args) {
  const wrangler = join(dirname(createRequire(import.meta.url).resolve("wrangler/package.json")), "bin/wrangler.js");
  const portArgs = flag(args, "--port") === undefined ? ["--port", String(port)] : [];
  const child = spawn(
    process.execPath,
    [wrangler, "dev", ...portArgs, "--env-file", "local.env", "--show-interactive-dev-session=false", ...args],
    { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"], detached: true, env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false" } },
  );
  child.on("error", (error) => fail(`wrangler dev did not start: ${error.message}`));
  let stopping = false;
  const stop = () => {
    if (stopping || child.exitCode !== null || child.signalCode !== null) return;
    stopping = true;
    const group = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // the group is gone already
      }
    };
    group("SIGTERM");
    setTimeout(() => group("SIGKILL"), STOP_GRACE_MS).unref();
  };
  for (const signal of SIGNALS) process.on(signal, stop);
  child.on("exit", (code, signal) => {
    // What wrangler leaves in the group (workerd) goes with it; asked to stop, a clean stop is a success.
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // nothing left
    }
    process.exit(stopping ? 0 : (code ?? (signal ? 1 : 0)));
  });
}

const args = process.argv.slice(2);
const seedOnly = args[0] === "--seed-only";
const devArgs = seedOnly ? args.slice(1) : args;
const stateDir = resolve(ROOT, flag(devArgs, "--persist-to") ?? ".wrangler/state");
const shownDir = relative(ROOT, stateDir).startsWith("..") ? stateDir : relative(ROOT, stateDir);

if (!seedOnly) {
  const portText = flag(devArgs, "--port") ?? process.env.PORT ?? "8787";
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) fail(`PORT must be a port number (1-65535), got ${JSON.stringify(portText)}`, 2);
  if (await portTaken(port)) {
    fail(`port ${port} is already in use (another npm start or wrangler dev?); stop it, or start on another: PORT=${port + 1} npm start`);
  }
  const started = performance.now();
  console.log(`port ${port} is free; seeding the local D1 database, KV namespace and R2 bucket in ${shownDir}`);
  await seedOrExit(stateDir, shownDir);
  console.log(`seeded in ${elapsed(started)}; starting wrangler dev on http://localhost:${port}`);
  dropForeignListeners();
  serve(port, devArgs);
} else {
  const started = performance.now();
  console.log(`seeding the local D1 database, KV namespace and R2 bucket in ${shownDir}`);
  await seedOrExit(stateDir, shownDir);
  console.log(`local D1, KV and R2 are migrated and seeded (${shownDir}, ${elapsed(started)})`);
}
