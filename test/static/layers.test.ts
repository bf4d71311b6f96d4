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

/** The source file an import names, as its path from the root (`./kv` -> `lib/batch/steps/kv.ts`), if it is one of `files`. */
function resolved(files: ReadonlyMap<string, string>, file: string, specifier: string): string | undefined {
  const target = normalize(join(dirname(file), specifier));
  return [target, `${target}.ts`, `${target}/index.ts`].find((candidate) => files.has(candidate));
}

/** The import circles among `files` (type-only imports included): each as "a -> b -> a", from its first file in order. */
function circles(files: ReadonlyMap<string, string>): string[] {
  const edges = new Map(
    [...files].map(([file, source]) => [
      file,
      importsOf(source)
        .filter((specifier) => specifier.startsWith("."))
        .flatMap((specifier) => resolved(files, file, specifier) ?? []),
    ]),
  );
  const found = new Set<string>();
  const state = new Map<string, "open" | "done">();
  const walk = (file: string, path: string[]) => {
    state.set(file, "open");
    for (const next of edges.get(file) ?? []) {
      if (state.get(next) === "open") {
        const circle = [...path.slice(path.indexOf(next)), file, next];
        found.add(circle.join(" -> "));
      } else if (!state.has(next)) walk(next, [...path, file]);
    }
    state.set(file, "done");
  };
  for (const file of [...files.keys()].sort()) if (!state.has(file)) walk(file, []);
  return [...found];
}

describe("the layer order", () => {
  const files = new Map([...sourceFiles("lib"), ...sourceFiles("functions")].map((file) => [file, readFileSync(join(ROOT, file), "utf8")]));

  it("holds for every file in lib/ and functions/", () => {
    expect(files.size).toBeGreaterThan(30);
    expect(violations(files)).toEqual([]);
  });

  it("has no import circle (type-only imports included)", () => {
    expect(circles(files)).toEqual([]);
  });

  it("finds an import circle", () => {
    const circular = new Map([
      ["lib/batch/steps/context.ts", 'import type { KvReader } from "./kv";'],
      ["lib/batch/steps/kv.ts", 'import type { BatchContext } from "./context";\nimport { x } from "../plan";'],
      ["lib/batch/plan.ts", ""],
    ]);
    expect(circles(circular)).toEqual(["lib/batch/steps/context.ts -> lib/batch/steps/kv.ts -> lib/batch/steps/context.ts"]);
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
