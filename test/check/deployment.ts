import { parse as parseToml, TomlError } from "smol-toml";
import { type Config, parseConfig } from "../../lib/base/config";
import { FanoutError } from "../../lib/base/errors";
import { loadCompositesFile, type SourcedCatalog } from "../../lib/composite/source";

/**
 * What `npm run check` and `npm run deploy:check` share: reading wrangler.toml, an env file (dotenv, as
 * wrangler reads it) and the composites file (JSONC, as the Worker reads it), and the vars the Worker
 * would see, validated by the Worker's own parseConfig. A file that cannot be used is a FileProblem: one
 * line naming it (and its line), never a stack trace.
 */

declare const process: { env: Record<string, string | undefined>; cwd(): string };

/** The secrets the Worker needs; they are set with `wrangler secret put`, never written in wrangler.toml. */
export const REQUIRED_SECRETS = ["API_KEYS", "WEBHOOK_SECRET"] as const;
/** Secrets the Worker reads when set. */
export const OPTIONAL_SECRETS = ["UPSTREAM_CREDENTIALS"] as const;
export const SECRETS: readonly string[] = [...REQUIRED_SECRETS, ...OPTIONAL_SECRETS];

/** A file that cannot be used: reported as one line and exit 1. */
export class FileProblem extends Error {}

export type Table = Record<string, unknown>;

export const isTable = (value: unknown): value is Table => typeof value === "object" && value !== null && !Array.isArray(value);

interface NodeFs {
  readFileSync(path: string, encoding: "utf8"): string;
}
interface NodePath {
  resolve(...paths: string[]): string;
}

// Node's modules, typed loosely: this file is type-checked with the Worker's types.
const fs = (await import("node:fs" as string)) as NodeFs;
const path = (await import("node:path" as string)) as NodePath;

/** Reads a file given on the command line (relative to where npm was run) or a default (relative to the project). */
export function readText(file: string, given: boolean): string {
  const full = given ? path.resolve(process.env.INIT_CWD ?? process.cwd(), file) : path.resolve(process.cwd(), file);
  try {
    return fs.readFileSync(full, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (error as Error).message;
    throw new FileProblem(`${file}: ${why}`);
  }
}

export function readToml(file: string, given: boolean): Table {
  const text = readText(file, given);
  try {
    return parseToml(text) as Table;
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = error.message.split("\n")[0]!.replace(/^Invalid TOML document:\s*/, "");
      throw new FileProblem(`${file}:${error.line}: ${reason} (not valid TOML)`);
    }
    throw new FileProblem(`${file}: not valid TOML: ${(error as Error).message.split("\n")[0]}`);
  }
}

/** The composites file read as the Worker reads it: a catalog whose problems are placed at `file:line:col`. */
export function readComposites(file: string, given: boolean): SourcedCatalog {
  return loadCompositesFile(readText(file, given), file);
}

/**
 * A dotenv file as wrangler reads it (local.env's syntax): KEY=value, KEY="value" (\n, \t, \" and \\
 * escapes; may span lines), KEY='value' (literal), `export KEY=...`, # comments and blank lines.
 */
export function parseDotenv(text: string, file: string): Map<string, string> {
  const values = new Map<string, string>();
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    const line = lines[index]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) throw new FileProblem(`${file}:${lineNumber}: expected KEY=value`);
    const key = match[1]!;
    let rest = match[2]!;
    const quote = rest[0];
    if (quote === '"' || quote === "'" || quote === "`") {
      // The closing quote may be on a later line.
      let body = rest.slice(1);
      let end = closingQuote(body, quote);
      while (end < 0 && index + 1 < lines.length) {
        body += `\n${lines[++index]!}`;
        end = closingQuote(body, quote);
      }
      if (end < 0) throw new FileProblem(`${file}:${lineNumber}: ${key}: the value's ${quote} quote is never closed`);
      const after = body.slice(end + 1).trim();
      if (after !== "" && !after.startsWith("#"))
        throw new FileProblem(`${file}:${lineNumber}: ${key}: text after the closing ${quote} quote`);
      rest = body.slice(0, end);
      if (quote === '"') rest = rest.replace(/\\([nrt"\\])/g, (_, char: string) => ({ n: "\n", r: "\r", t: "\t" })[char] ?? char);
      values.set(key, rest);
    } else {
      values.set(key, rest.replace(/\s+#.*$/, "").trim());
    }
  }
  return values;
}

function closingQuote(text: string, quote: string): number {
  for (let index = 0; index < text.length; index++) {
    if (quote === '"' && text[index] === "\\") index++;
    else if (text[index] === quote) return index;
  }
  return -1;
}

/** Where a var's value comes from, for the lines that name it. */
export type Sources = Map<string, string>;

export const where = (sources: Sources, name: string) => `${sources.get(name) ?? "(default)"} ${name}`;

/** The vars the Worker will see: wrangler.toml's top-level [vars], then the env file's (which win), each with where it came from. */
export interface Deployment {
  toml: Table;
  /** wrangler.toml's [vars] ({} when absent or not a table). */
  topVars: Table;
  /** Set when [vars] is not a table. */
  varsProblem?: string;
  vars: Map<string, unknown>;
  sources: Sources;
}

export function readDeployment(configFile: string, envFile: string | undefined, given: ReadonlySet<string>): Deployment {
  const toml = readToml(configFile, given.has(configFile));
  const env = envFile === undefined ? undefined : parseDotenv(readText(envFile, given.has(envFile)), envFile);
  const tomlVars = toml.vars === undefined ? {} : toml.vars;
  const topVars = isTable(tomlVars) ? tomlVars : {};
  const vars = new Map<string, unknown>();
  const sources: Sources = new Map();
  for (const [name, value] of Object.entries(topVars)) {
    vars.set(name, value);
    sources.set(name, `${configFile} [vars]`);
  }
  for (const [name, value] of env ?? []) {
    vars.set(name, value);
    sources.set(name, envFile!);
  }
  return { toml, topVars, vars, sources, ...(isTable(tomlVars) ? {} : { varsProblem: `${configFile} vars: must be a [vars] table` }) };
}

/** True when `reason` quotes part of `secret` (a JSON parse error does): such a reason is not printed. */
function quotesSecret(reason: string, secret: unknown): boolean {
  if (typeof secret !== "string" || secret.length < 6) return false;
  for (let index = 0; index + 6 <= secret.length; index++) if (reason.includes(secret.slice(index, index + 6))) return true;
  return false;
}

/**
 * parseConfig on the merged vars. Each invalid var is one problem; the config returned has those vars
 * left out (their defaults), so the checks after it still run.
 */
export function checkConfig(vars: Map<string, unknown>, sources: Sources, problems: string[]): Config {
  const input = Object.fromEntries(vars);
  for (let round = 0; round < 50; round++) {
    try {
      return parseConfig(input);
    } catch (error) {
      if (!(error instanceof FanoutError) || error.invalidParams.length === 0) throw error;
      for (const { name, reason } of error.invalidParams) {
        const top = name.split(/[.[]/)[0]!;
        if (top === "CORS_CREDENTIALS" && reason.includes("CORS_ORIGINS=*")) {
          problems.push(
            `${where(sources, "CORS_ORIGINS")}="*" with ${where(sources, "CORS_CREDENTIALS")}="true": credentials cannot be allowed for every origin; list the exact origins in CORS_ORIGINS, or set CORS_CREDENTIALS "false"`,
          );
        } else {
          const shown =
            SECRETS.includes(top) && quotesSecret(reason, vars.get(top)) ? "is not valid (the reason would quote the secret)" : reason;
          problems.push(`${where(sources, top)}: ${shown}`);
        }
        delete input[top];
      }
    }
  }
  throw new Error("the configuration did not settle");
}
