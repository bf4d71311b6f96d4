import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The layer order, enforced: functions/ -> lib/jobs | lib/composite -> lib/batch -> lib/async ->
 * lib/base. A file may import its own folder or a lower layer, never a higher one, and feature
 * folders of one layer (jobs, composite) never import each other; nothing in lib/ imports Hono or
 * functions/. Read from the source text, so a new file or a new import is checked as it is written.
 */

const ROOT = join(dirname(new URL(import.meta.url).pathname), "../..");
const LAYERS = ["lib/base", "lib/async", "lib/batch", ["lib/jobs", "lib/composite"], "functions"] as const;
const FOLDERS: readonly string[] = LAYERS.flat();
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

function sourceFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder)).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

function folderOf(path: string): string | undefined {
  return FOLDERS.find((folder) => path === folder || path.startsWith(`${folder}/`));
}

function layerOf(path: string): number {
  const folder = folderOf(path);
  return LAYERS.findIndex((layer) => (typeof layer === "string" ? layer === folder : (layer as readonly string[]).includes(folder ?? "")));
}

function importsOf(source: string): string[] {
  return [...source.matchAll(IMPORT)].map((match) => (match[1] ?? match[2])!);
}

/** Every way a file breaks the layer order, as "file -> import: why". */
function violations(files: ReadonlyMap<string, string>): string[] {
  const found: string[] = [];
  for (const [file, source] of files) {
    const layer = layerOf(file);
    if (layer < 0) {
      found.push(`${file}: not in a layer folder (${FOLDERS.join(", ")})`);
      continue;
    }
    for (const specifier of importsOf(source)) {
      if (!specifier.startsWith(".")) {
        if (file.startsWith("lib/") && /^(hono|@hono\/)/.test(specifier)) found.push(`${file} -> ${specifier}: lib/ never imports Hono`);
        continue;
      }
      const target = normalize(join(dirname(file), specifier));
      if (!target.startsWith("lib/") && !target.startsWith("functions/")) continue; // package.json and the like
      const targetLayer = layerOf(target);
      if (targetLayer > layer)
        found.push(`${file} -> ${relative(".", target)}: ${folderOf(file)} may not import ${folderOf(target) ?? target}`);
      else if (targetLayer === layer && folderOf(target) !== folderOf(file))
        found.push(`${file} -> ${relative(".", target)}: ${folderOf(file)} may not import its sibling ${folderOf(target)}`);
    }
  }
  return found;
}

describe("the layer order", () => {
  const files = new Map([...sourceFiles("lib"), ...sourceFiles("functions")].map((file) => [file, readFileSync(join(ROOT, file), "utf8")]));

  it("holds for every file in lib/ and functions/", () => {
    expect(files.size).toBeGreaterThan(30);
    expect(violations(files)).toEqual([]);
  });

  it("catches an import against the order, an import of Hono in lib/ and a stray lib/ file", () => {
    const broken = new Map([
      ["lib/base/config.ts", 'import { x } from "../jobs/webhooks";'],
      ["lib/async/retry.ts", 'import type { Context } from "hono";'],
      ["lib/batch/plan.ts", 'import { problem } from "../../functions/problem";'],
      ["lib/stray.ts", ""],
      ["lib/jobs/runner.ts", 'import { planBatch } from "../batch/service";\nimport { sleep } from "../async/timers";'],
      ["lib/composite/serve.ts", 'import { submitJob } from "../jobs/submit";\nimport { executeBatch } from "../batch/service";'],
    ]);
    expect(violations(broken)).toEqual([
      "lib/base/config.ts -> lib/jobs/webhooks: lib/base may not import lib/jobs",
      "lib/async/retry.ts -> hono: lib/ never imports Hono",
      "lib/batch/plan.ts -> functions/problem: lib/batch may not import functions",
      "lib/stray.ts: not in a layer folder (lib/base, lib/async, lib/batch, lib/jobs, lib/composite, functions)",
      "lib/composite/serve.ts -> lib/jobs/submit: lib/composite may not import its sibling lib/jobs",
    ]);
  });
});
