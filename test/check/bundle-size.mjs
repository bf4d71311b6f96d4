#!/usr/bin/env node
// `npm run size`: builds the Worker as `wrangler deploy` would (into a temporary folder, so it never
// measures a stale dist/), prints its size (raw and gzip, wrangler's own "Total Upload" figures) and
// what makes it up, and exits 1 when either figure is over its budget, or when a zod locale other than
// English is in the bundle again (the [alias] in wrangler.toml keeps them out).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The budget, in KiB as wrangler counts them: about 9% above the bundle with bulk calls, composite fallbacks,
 * concat, forwarded headers and the composites' derived document schemas in it (458.5 KiB raw, 147.7 KiB gzip;
 * they added 22.5 and 7.9 KiB to 436.0 / 139.8, which passed the earlier budget of 460 / 145), which leaves room
 * for features to grow, not for a dependency the size of zod's locales (258 KiB). Raise it on purpose, in the
 * change that needs it, and say why.
 */
export const BUDGET_KIB = { raw: 500, gzip: 160 };

const root = join(import.meta.dirname, "../..");

/** Reads wrangler's "Total Upload: 380.90 KiB / gzip: 120.76 KiB" line. */
export function parseUploadSize(output) {
  const match = /Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/.exec(output);
  if (!match) throw new Error(`no "Total Upload" line in wrangler's output:\n${output}`);
  return { raw: Number(match[1]), gzip: Number(match[2]) };
}

/** Bytes in the bundle per package (node_modules) or per folder of fanout's own source, largest first. */
export function breakdown(meta) {
  const output = Object.values(meta.outputs).find((entry) => entry.entryPoint);
  const groups = new Map();
  for (const [file, { bytesInOutput }] of Object.entries(output.inputs)) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)(\/v4\/(?:locales|core|classic))?/.exec(file);
    const key = pkg ? pkg[1] + (pkg[2] ?? "") : file.split("/").slice(0, 2).join("/");
    groups.set(key, (groups.get(key) ?? 0) + bytesInOutput);
  }
  return [...groups].sort((a, b) => b[1] - a[1]);
}

/** zod locale files in the bundle other than English (none, while the alias works). */
export function foreignLocales(meta) {
  return Object.keys(meta.inputs).filter((file) => /node_modules\/zod\/(?:v4\/)?locales\/(?!en\.js$|index\.js$)[^/]+\.js$/.test(file));
}

/** Every way `size` breaks the budget or `meta` the English-only locales, as sentences. */
export function check(size, meta, budget = BUDGET_KIB) {
  const problems = [];
  for (const kind of ["raw", "gzip"]) {
    if (size[kind] > budget[kind]) problems.push(`${kind} ${size[kind].toFixed(2)} KiB is over its budget of ${budget[kind]} KiB`);
  }
  const locales = foreignLocales(meta);
  if (locales.length > 0)
    problems.push(`${locales.length} zod locales besides English are bundled (${locales.slice(0, 3).join(", ")}, ...)`);
  if (!Object.keys(meta.inputs).some((file) => /node_modules\/zod\/(?:v4\/)?locales\/en\.js$/.test(file)))
    problems.push("zod's English locale is missing: error messages would have no text");
  return problems;
}

function main() {
  const outdir = mkdtempSync(join(tmpdir(), "fanout-size-"));
  try {
    const metafile = join(outdir, "bundle-meta.json");
    const output = execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir, "--metafile", metafile], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const size = parseUploadSize(output);
    const meta = JSON.parse(readFileSync(metafile, "utf8"));
    const total = breakdown(meta).reduce((sum, [, bytes]) => sum + bytes, 0);
    console.log(
      `bundle: ${size.raw.toFixed(2)} KiB raw, ${size.gzip.toFixed(2)} KiB gzip (budget ${BUDGET_KIB.raw} / ${BUDGET_KIB.gzip} KiB)`,
    );
    for (const [name, bytes] of breakdown(meta).slice(0, 12)) {
      console.log(`  ${(bytes / 1024).toFixed(1).padStart(7)} KiB ${((100 * bytes) / total).toFixed(1).padStart(5)}%  ${name}`);
    }
    const problems = check(size, meta);
    for (const problem of problems) console.log(`FAIL  ${problem}`);
    if (problems.length > 0) process.exitCode = 1;
    else console.log("within budget");
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main();
