import compositesFile from "../../functions/composites.json";
import { type CompositeCatalog, loadComposites } from "../../lib/composite/catalog";

/**
 * `npm run check [file]`: validates functions/composites.json (or the file given) offline with the schema and cross-checks the
 * Worker runs when it starts (like `krakend check`). Prints one line per composite and every problem
 * with the composite and field it is in; exits 1 when any composite is invalid.
 */

declare const process: { exitCode?: number; argv: string[] };

function report(catalog: CompositeCatalog): { lines: string[]; ok: boolean } {
  const lines: string[] = [];
  for (const composite of catalog.composites) {
    const cache = composite.cache
      ? `cached ${composite.cache.ttlSeconds} s + ${composite.cache.staleWhileRevalidateSeconds} s stale-while-revalidate`
      : "not cached";
    lines.push(
      `ok    ${composite.name}: GET ${catalog.prefix}${composite.path} (auth ${composite.auth}, ${composite.steps.length} steps, ${cache})`,
    );
  }
  for (const broken of catalog.broken) {
    lines.push(`FAIL  ${broken.name}:`);
    for (const problem of broken.problems) lines.push(`        composites.${broken.name}.${problem.name}: ${problem.reason}`);
  }
  const ok = catalog.broken.length === 0;
  lines.push(ok ? `${catalog.composites.length} composites OK` : `${catalog.broken.length} invalid, ${catalog.composites.length} OK`);
  return { lines, ok };
}

async function readFile(path: string): Promise<unknown> {
  // Node's fs, typed loosely: this file is type-checked with the Worker's types.
  const fs = (await import("node:fs/promises" as string)) as { readFile(path: string, encoding: "utf8"): Promise<string> };
  return JSON.parse(await fs.readFile(path, "utf8"));
}

const path = process.argv[2];
const { lines, ok } = report(loadComposites(path ? await readFile(path) : compositesFile));
for (const line of lines) console.log(line);
if (!ok) process.exitCode = 1;
