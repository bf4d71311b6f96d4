import type { Config } from "../../lib/base/config";
import { OWN_SUBREQUESTS, PAID_SUBREQUESTS } from "../../lib/base/limits";
import { type AllowRule, parseAllowRule } from "../../lib/base/policy";
import type { CompositeDefinition } from "../../lib/composite/definition";
import { configProblems } from "../../lib/composite/fit";
import type { SourcedCatalog } from "../../lib/composite/source";
import {
  checkConfig,
  FileProblem,
  isTable,
  REQUIRED_SECRETS,
  readComposites,
  readDeployment,
  SECRETS,
  type Sources,
  type Table,
  where,
} from "./deployment";

/**
 * `npm run deploy:check [--env-file F] [--config wrangler.toml] [--composites F]`: before `npm run deploy`,
 * checks offline that wrangler.toml (its top-level [vars] and bindings), the vars and secrets in the env
 * file and the composites fit a production deployment. Prints one line per problem (exit 1), warning or
 * note, then a summary. A file that is missing or cannot be read is one line naming it (exit 1); an
 * unknown argument is one usage line (exit 2). Never a stack trace.
 */

declare const process: { exitCode?: number; argv: string[]; env: Record<string, string | undefined>; cwd(): string };

const USAGE = "usage: npm run deploy:check -- [--env-file FILE] [--config wrangler.toml] [--composites functions/composites.jsonc]";

/** The repository's example [[ratelimits]] namespace ids: an account needs its own. */
const EXAMPLE_NAMESPACE_IDS = new Set(["1001", "1002"]);

// ---------------------------------------------------------------------------------------------------------
// Arguments and files

interface Options {
  config: string;
  envFile?: string;
  composites: string;
  /** The files named on the command line (read relative to where npm was run; defaults, relative to the project). */
  given: Set<string>;
}

function parseArgs(args: string[]): Options | string {
  const options: Options = { config: "wrangler.toml", composites: "functions/composites.jsonc", given: new Set() };
  const names: Record<string, "config" | "envFile" | "composites"> = {
    "--config": "config",
    "--env-file": "envFile",
    "--composites": "composites",
  };
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    const [flag, inline] =
      arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg];
    const name = names[flag!];
    if (name === undefined) return `unknown argument ${JSON.stringify(arg)}`;
    const value = inline ?? args[++index];
    if (value === undefined || value === "") return `${flag} needs a file`;
    options[name] = value;
    options.given.add(value);
  }
  return options;
}

// ---------------------------------------------------------------------------------------------------------
// The report

interface Report {
  problems: string[];
  warnings: string[];
  notes: string[];
}

/** An array of tables (TOML [[x]]), or nothing. */
function tablesOf(config: Table, key: string, report: Report, file: string): Table[] {
  const value = config[key];
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every(isTable)) {
    report.problems.push(`${file} ${key}: must be written as [[${key}]] tables`);
    return [];
  }
  return value;
}

const PLACEHOLDER = /^[0-]+$/;

function checkBindings(toml: Table, file: string, report: Report): void {
  for (const kv of tablesOf(toml, "kv_namespaces", report, file)) {
    const binding = String(kv.binding ?? "(no binding)");
    const create = `create it with \`npx wrangler kv namespace create ${binding}\` and paste its id`;
    if (typeof kv.id !== "string" || kv.id === "") report.problems.push(`${file} [[kv_namespaces]] ${binding}: no id; ${create}`);
    else if (PLACEHOLDER.test(kv.id))
      report.problems.push(`${file} [[kv_namespaces]] ${binding}: id is the placeholder ${kv.id}; ${create}`);
  }
  for (const d1 of tablesOf(toml, "d1_databases", report, file)) {
    const binding = String(d1.binding ?? "(no binding)");
    const create = `create it with \`npx wrangler d1 create ${String(d1.database_name ?? "<name>")}\` and paste its database_id`;
    const id = d1.database_id;
    if (typeof id !== "string" || id === "") report.problems.push(`${file} [[d1_databases]] ${binding}: no database_id; ${create}`);
    else if (PLACEHOLDER.test(id))
      report.problems.push(`${file} [[d1_databases]] ${binding}: database_id is the placeholder ${id}; ${create}`);
  }
  const seen = new Map<string, string>();
  for (const limit of tablesOf(toml, "ratelimits", report, file)) {
    const name = String(limit.name ?? "(no name)");
    const id = limit.namespace_id === undefined ? undefined : String(limit.namespace_id);
    if (id === undefined)
      report.problems.push(`${file} [[ratelimits]] ${name}: no namespace_id; pick a number unique in your Cloudflare account`);
    else if (EXAMPLE_NAMESPACE_IDS.has(id))
      report.problems.push(
        `${file} [[ratelimits]] ${name}: namespace_id "${id}" is the repository's example; pick a number unique in your Cloudflare account (Workers that share one share its counters)`,
      );
    else if (seen.has(id))
      report.problems.push(
        `${file} [[ratelimits]] ${name}: namespace_id "${id}" is also ${seen.get(id)}'s: the two would share one counter; give each its own`,
      );
    if (id !== undefined) seen.set(id, name);
  }
}

/** What kind of non-public address an allow-list rule names, or undefined for a public host. */
function nonPublic(rule: AllowRule): string | undefined {
  const host = rule.wildcard ? rule.host.slice(1) : rule.host;
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (name.startsWith("[")) return ipv6Kind(name.slice(1, -1));
  const v4 = ipv4Kind(name);
  if (v4 !== null) return v4;
  if (name === "localhost" || name.endsWith(".localhost")) return "loopback (localhost)";
  if (name === "metadata.google.internal" || name === "metadata") return "the cloud metadata service";
  for (const suffix of [".internal", ".local", ".home.arpa", ".arpa"]) {
    if (name.endsWith(suffix)) return `a special-use name (${suffix}: never a public host)`;
  }
  if (!name.includes(".")) return "a single-label name (resolves only inside a private network)";
  return undefined;
}

/** undefined: a public IPv4 address; null: not an IPv4 address. */
function ipv4Kind(host: string): string | undefined | null {
  const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(host);
  if (!match) return null;
  const [a, b] = [Number(match[1]), Number(match[2])];
  if (a === 127) return "loopback (127.0.0.0/8)";
  if (a === 0) return "the unspecified network (0.0.0.0/8)";
  if (a === 10) return "a private network (10.0.0.0/8)";
  if (a === 172 && b >= 16 && b <= 31) return "a private network (172.16.0.0/12)";
  if (a === 192 && b === 168) return "a private network (192.168.0.0/16)";
  if (a === 100 && b >= 64 && b <= 127) return "a private network (100.64.0.0/10, carrier-grade NAT)";
  if (a === 169 && b === 254) return "link-local (169.254.0.0/16, which holds the cloud metadata service 169.254.169.254)";
  return undefined;
}

function ipv6Kind(host: string): string | undefined {
  const groups = ipv6Groups(host);
  if (groups === undefined) return undefined;
  if (groups.every((group) => group === 0)) return "the unspecified address (::)";
  if (groups.slice(0, 7).every((group) => group === 0) && groups[7] === 1) return "loopback (::1)";
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const v4 = `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
    return ipv4Kind(v4) ?? undefined;
  }
  if ((groups[0]! & 0xfe00) === 0xfc00) return "a private network (fc00::/7)";
  if ((groups[0]! & 0xffc0) === 0xfe80) return "link-local (fe80::/10)";
  return undefined;
}

function ipv6Groups(host: string): number[] | undefined {
  let text = host;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const part = (value: string) => (value === "" ? [] : value.split(":").map((group) => Number.parseInt(group, 16)));
  const front = part(head);
  const back = tail === undefined ? [] : part(tail);
  const groups = tail === undefined ? front : [...front, ...new Array(8 - front.length - back.length).fill(0), ...back];
  return groups.length === 8 && groups.every((group) => Number.isInteger(group)) ? groups : undefined;
}

function checkAllowList(vars: Map<string, unknown>, sources: Sources, report: Report): void {
  const text = vars.get("UPSTREAM_ALLOWLIST");
  if (typeof text !== "string") return; // missing or not text: parseConfig names it
  const rules = text.split(/[\s,]+/).filter(Boolean);
  if (rules.length === 0) {
    report.problems.push(
      `${where(sources, "UPSTREAM_ALLOWLIST")}: empty, so no step can fetch anything; list the upstream hosts (api.example.com, *.example.com)`,
    );
    return;
  }
  for (const written of rules) {
    let rule: AllowRule;
    try {
      rule = parseAllowRule(written);
    } catch {
      continue; // malformed: parseConfig names it
    }
    const kind = nonPublic(rule);
    if (kind)
      report.problems.push(
        `${where(sources, "UPSTREAM_ALLOWLIST")}: rule "${written}" names ${kind}; production lists public upstream hosts only`,
      );
  }
}

function checkSecrets(tomlVars: Table, envFile: string | undefined, vars: Map<string, unknown>, report: Report, file: string): void {
  for (const name of SECRETS) {
    if (name in tomlVars)
      report.problems.push(
        `${file} [vars] ${name}: a secret in [vars] is stored and shown in plain text; remove it and set it with: npx wrangler secret put ${name}`,
      );
  }
  for (const name of REQUIRED_SECRETS) {
    if (envFile === undefined) {
      if (!(name in tomlVars))
        report.notes.push(`required: ${name} is a secret the Worker needs; set with: npx wrangler secret put ${name}`);
    } else if (vars.get(name) === undefined || vars.get(name) === "") {
      report.problems.push(
        `${envFile} ${name}: missing; the Worker needs this secret (set it in production with: npx wrangler secret put ${name})`,
      );
    }
  }
}

function checkAdmins(config: Config, sources: Sources, report: Report): void {
  if (config.API_KEYS.length === 0) return; // unknown here (a secret set elsewhere), or invalid (named already)
  const ids = new Set(config.API_KEYS.map((entry) => entry.id));
  for (const id of config.ADMIN_KEY_IDS) {
    if (!ids.has(id))
      report.problems.push(
        `${where(sources, "ADMIN_KEY_IDS")}: "${id}" is not an id in API_KEYS (${where(sources, "API_KEYS")}); no key can read /v1/audit as it`,
      );
  }
}

function checkRateRules(toml: Table, config: Config, sources: Sources, report: Report, file: string): void {
  const rules = { RATE_LIMIT_KEYS: config.RATE_LIMIT_KEYS_RULE, RATE_LIMIT_IPS: config.RATE_LIMIT_IPS_RULE };
  const bindings = Array.isArray(toml.ratelimits) ? (toml.ratelimits as unknown[]).filter(isTable) : [];
  for (const [name, rule] of Object.entries(rules)) {
    const simple = bindings.find((binding) => binding.name === name)?.simple;
    if (rule === undefined || !isTable(simple)) continue;
    if (simple.limit !== rule.limit || simple.period !== rule.period)
      report.problems.push(
        `${where(sources, `${name}_RULE`)}="${rule.limit}/${rule.period}" differs from ${file} [[ratelimits]] ${name} simple = { limit = ${String(simple.limit)}, period = ${String(simple.period)} }: the 429 would word the wrong numbers`,
      );
  }
}

function checkSubrequests(toml: Table, config: Config, sources: Sources, report: Report, file: string): void {
  const limits = toml.limits;
  let platform = PAID_SUBREQUESTS;
  let platformWhere = "Workers Paid's default (raise it with [limits] subrequests)";
  if (isTable(limits) && limits.subrequests !== undefined) {
    const value = limits.subrequests;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
      report.problems.push(`${file} [limits] subrequests: must be a positive integer`);
      return;
    }
    platform = value;
    platformWhere = `${file} [limits] subrequests`;
  }
  const budget = config.SUBREQUEST_BUDGET;
  if (budget + OWN_SUBREQUESTS > platform) {
    report.problems.push(
      `${where(sources, "SUBREQUEST_BUDGET")}=${budget} + ${OWN_SUBREQUESTS} of fanout's own subrequests is ${budget + OWN_SUBREQUESTS}, over the platform limit of ${platform} (${platformWhere}); the platform's limit wins, so a batch fanout accepts could fail part-way instead of being refused up front: set SUBREQUEST_BUDGET to at most ${platform - OWN_SUBREQUESTS}`,
    );
  }
}

const BINDINGS = {
  kv: { name: "KV", table: "kv_namespaces", field: "binding" },
  r2: { name: "BUCKET", table: "r2_buckets", field: "binding" },
  d1: { name: "DB", table: "d1_databases", field: "binding" },
} as const;

function checkComposite(composite: CompositeDefinition, config: Config, toml: Table, file: string, report: Report): void {
  for (const { name, reason } of configProblems(composite, config))
    report.problems.push(`${file} composites.${composite.name}${name ? `.${name}` : ""}: ${reason}`);
  const needs = new Map<string, string[]>();
  composite.steps.forEach((step) => {
    for (const kind of ["kv", "r2", "d1"] as const) {
      if (step[kind] === undefined) continue;
      const { name, table, field } = BINDINGS[kind];
      const declared = Array.isArray(toml[table]) && (toml[table] as unknown[]).some((entry) => isTable(entry) && entry[field] === name);
      if (!declared) needs.set(name, [...(needs.get(name) ?? []), step.id]);
    }
  });
  for (const [name, steps] of needs) {
    const { table } = Object.values(BINDINGS).find((binding) => binding.name === name)!;
    report.problems.push(
      `${file} composites.${composite.name}: step${steps.length > 1 ? "s" : ""} ${steps.join(", ")} need${steps.length > 1 ? "" : "s"} the ${name} binding, which the wrangler config does not declare ([[${table}]] binding = "${name}")`,
    );
  }
}

function checkComposites(catalog: SourcedCatalog, config: Config, toml: Table, file: string, configFile: string, report: Report): void {
  for (const error of catalog.source.errors)
    report.problems.push(`${error.at}${error.field ? ` ${error.field}` : ""}: ${error.reason} (the composites file does not load)`);
  const isDemo = (name: string) => (catalog.source.declaration(name) as { demo?: unknown } | undefined)?.demo === true;
  const hidden: string[] = [];
  for (const broken of catalog.broken) {
    if (!config.DEMO_ENABLED && isDemo(broken.name)) {
      hidden.push(broken.name);
      continue;
    }
    for (const problem of broken.problems)
      report.problems.push(`${file} composites.${broken.name}.${problem.name}: ${problem.reason} (invalid composite)`);
  }
  const served: CompositeDefinition[] = [];
  for (const composite of catalog.composites) {
    if (composite.demo && !config.DEMO_ENABLED) hidden.push(composite.name);
    else served.push(composite);
  }
  if (hidden.length > 0)
    report.notes.push(
      `info: ${hidden.length} demo composite${hidden.length > 1 ? "s" : ""} (${hidden.join(", ")}) ${hidden.length > 1 ? "are" : "is"} not served: DEMO_ENABLED is off`,
    );
  for (const composite of served) checkComposite(composite, config, toml, file, report);

  // The Cache API does nothing on *.workers.dev: a cached composite needs a route on a zone (a custom domain).
  const cached = served.filter((composite) => composite.cache !== undefined).map((composite) => composite.name);
  const hasRoutes = (Array.isArray(toml.routes) && toml.routes.length > 0) || toml.route !== undefined;
  const workersDev = toml.workers_dev ?? !hasRoutes;
  if (workersDev === false && !hasRoutes)
    report.warnings.push(`${configFile}: workers_dev = false and no routes: the Worker will have no URL; add a custom domain (routes)`);
  if (workersDev === true && !hasRoutes && cached.length > 0)
    report.warnings.push(
      `${configFile}: workers_dev = true and no routes: the Cache API does nothing on *.workers.dev, so ${cached.join(", ")} will never be cached; add a custom domain (routes = [{ pattern = "api.example.com", custom_domain = true }])`,
    );
}

function run(options: Options): Report {
  const report: Report = { problems: [], warnings: [], notes: [] };
  const configFile = options.config;
  const { toml, topVars, varsProblem, vars, sources } = readDeployment(configFile, options.envFile, options.given);
  const composites = readComposites(options.composites, options.given.has(options.composites));
  if (varsProblem) report.problems.push(varsProblem);
  if (isTable(toml.env))
    for (const name of Object.keys(toml.env))
      report.notes.push(
        `info: ${configFile} [env.${name}] is not checked (deploy:check reads the top level, which \`npm run deploy\` deploys)`,
      );

  checkBindings(toml, configFile, report);
  if (vars.has("SIM_ENABLED")) report.warnings.push(`${where(sources, "SIM_ENABLED")}: obsolete (replaced by DEMO_ENABLED); remove it`);
  checkSecrets(topVars, options.envFile, vars, report, configFile);
  const config = checkConfig(vars, sources, report.problems);
  if (config.DEMO_ENABLED)
    report.problems.push(
      `${where(sources, "DEMO_ENABLED")}="true": the demo surface (/v1/sim/*, /v1/examples/*, the demo composites) must be off in production; set it "false"`,
    );
  checkAllowList(vars, sources, report);
  checkAdmins(config, sources, report);
  checkRateRules(toml, config, sources, report, configFile);
  checkSubrequests(toml, config, sources, report, configFile);
  checkComposites(composites, config, toml, options.composites, configFile, report);
  return report;
}

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`;

function main(): number {
  // process.argv is [node, "-", "--", ...]: the script passes "--" so that Node 20 does not take --env-file as its own flag.
  const args = process.argv.slice(2);
  const options = parseArgs(args[0] === "--" ? args.slice(1) : args);
  if (typeof options === "string") {
    console.error(`deploy:check: ${options}; ${USAGE}`);
    return 2;
  }
  let report: Report;
  try {
    report = run(options);
  } catch (error) {
    if (error instanceof FileProblem) {
      console.error(error.message);
      return 1;
    }
    console.error(`deploy:check: ${(error as Error).message ?? String(error)}`);
    return 1;
  }
  for (const line of report.problems) console.log(`problem: ${line}`);
  for (const line of report.warnings) console.log(`warning: ${line}`);
  for (const line of report.notes) console.log(line);
  const warnings = plural(report.warnings.length, "warning");
  console.log(
    report.problems.length > 0
      ? `deploy:check: ${plural(report.problems.length, "problem")}, ${warnings}`
      : `deploy:check: ready to deploy (${warnings})`,
  );
  return report.problems.length > 0 ? 1 : 0;
}

process.exitCode = main();
