import type { Config } from "../../lib/base/config";
import type { InvalidParam } from "../../lib/base/errors";
import type { CompositeDefinition } from "../../lib/composite/definition";
import { configProblems } from "../../lib/composite/fit";
import type { SourcedCatalog } from "../../lib/composite/source";
import { checkConfig, FileProblem, readComposites, readDeployment } from "./deployment";

/**
 * `npm run check -- [file] [--env-file F] [--config wrangler.toml]`: validates functions/composites.jsonc
 * (or the file given) offline, as the Worker reads it (JSONC) and validates it when it starts, and then
 * against the deployment's configuration: wrangler.toml's [vars] plus local.env (or the env file
 * given), so a composite that would answer 503 at runtime (a D1 query missing from D1_QUERIES, an
 * upstream off UPSTREAM_ALLOWLIST, a key outside KV_PREFIXES / R2_PREFIXES) fails here first (like
 * `krakend check`). One `ok` line per good composite; every problem on a line of its own,
 * `file:line:col composites.<name>.<field>: reason`, with the nearest valid name when one is misspelt;
 * exit 1 on any problem, 2 on a usage error; never a stack trace.
 */

declare const process: { exitCode?: number; argv: string[] };

const USAGE = "usage: npm run check -- [functions/composites.jsonc] [--env-file local.env] [--config wrangler.toml]";

interface Options {
  file: string;
  config: string;
  envFile: string;
  /** The files named on the command line (read relative to where npm was run; defaults, relative to the project). */
  given: Set<string>;
}

function parseArgs(args: string[]): Options | string {
  const options: Options = { file: "functions/composites.jsonc", config: "wrangler.toml", envFile: "local.env", given: new Set() };
  const flags: Record<string, "config" | "envFile"> = { "--config": "config", "--env-file": "envFile" };
  let positional = 0;
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    const [flag, inline] =
      arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg];
    const name = flags[flag!];
    if (name === undefined) {
      if (arg.startsWith("-") || positional++ > 0) return `unknown argument ${JSON.stringify(arg)}`;
      options.file = arg;
      options.given.add(arg);
      continue;
    }
    const value = inline ?? args[++index];
    if (value === undefined || value === "") return `${flag} needs a file`;
    options[name] = value;
    options.given.add(value);
  }
  return options;
}

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`;

function okLine(catalog: SourcedCatalog, composite: CompositeDefinition): string {
  const cache = composite.cache
    ? `cached ${composite.cache.ttlSeconds} s + ${composite.cache.staleWhileRevalidateSeconds} s stale-while-revalidate`
    : "not cached";
  return `ok    ${composite.name}: GET ${catalog.prefix}${composite.path} (auth ${composite.auth}, ${plural(composite.steps.length, "step")}, ${cache})`;
}

/** A composite's problems as lines, each placed in the file. */
const problemLines = (catalog: SourcedCatalog, name: string, problems: readonly InvalidParam[]) =>
  problems.map(
    (problem) =>
      `${catalog.source.locate(name, problem.name)} composites.${name}${problem.name ? `.${problem.name}` : ""}: ${problem.reason}`,
  );

/** Every line of the report and whether the file passed. */
function report(catalog: SourcedCatalog, config: Config, configLines: string[], settings: string): { lines: string[]; ok: boolean } {
  const { source } = catalog;
  if (source.errors.length > 0) {
    const lines = source.errors.map((error) => `${error.at}${error.field ? ` ${error.field}` : ""}: ${error.reason}`);
    return { lines: [...lines, `${source.file} does not load: no composite would be served`], ok: false };
  }
  const lines: string[] = [];
  const problems: string[] = [...configLines];
  const notes: string[] = [];
  let [good, invalid] = [0, catalog.broken.length];
  for (const composite of catalog.composites) {
    if (composite.demo && !config.DEMO_ENABLED) {
      notes.push(`info: ${composite.name} is a demo composite, not served: DEMO_ENABLED is off`);
      continue;
    }
    const misfits = configProblems(composite, config);
    if (misfits.length === 0) {
      lines.push(okLine(catalog, composite));
      good++;
    } else invalid++;
    problems.push(...problemLines(catalog, composite.name, misfits));
  }
  for (const broken of catalog.broken) problems.push(...problemLines(catalog, broken.name, broken.problems));
  const summary = invalid === 0 ? `${plural(good, "composite")} OK` : `${invalid} invalid, ${good} OK`;
  return {
    lines: [...lines, ...problems, ...notes, `${summary} (checked against ${settings})`],
    ok: invalid === 0 && configLines.length === 0,
  };
}

function main(): number {
  // process.argv is [node, "-", "--", ...]: the script passes "--" so that Node 20 does not take --env-file as its own flag.
  const args = process.argv.slice(2);
  const options = parseArgs(args[0] === "--" ? args.slice(1) : args);
  if (typeof options === "string") {
    console.error(`check: ${options}; ${USAGE}`);
    return 2;
  }
  try {
    const { vars, sources, varsProblem } = readDeployment(options.config, options.envFile, options.given);
    const catalog = readComposites(options.file, options.given.has(options.file));
    const configLines = varsProblem ? [varsProblem] : [];
    const config = checkConfig(vars, sources, configLines);
    const { lines, ok } = report(catalog, config, configLines, `${options.config} [vars] + ${options.envFile}`);
    for (const line of lines) console.log(line);
    return ok ? 0 : 1;
  } catch (error) {
    console.error(error instanceof FileProblem ? error.message : `check: ${(error as Error).message ?? String(error)}`);
    return 1;
  }
}

process.exitCode = main();
