import { FanoutError } from "./errors";

/**
 * The upstream allow-list. fanout is SSRF-shaped: a client names URLs and fanout fetches them, so
 * every target (and every redirect hop) must match a rule here. Rules are written as
 *   api.example.com          https, default port only
 *   *.example.com            any subdomain of example.com (not example.com itself), https
 *   api.example.com:8443     https on that port only
 *   http://localhost:8787    plain http, only because the rule says so
 * IP literals and special-use names (localhost, *.internal, ...) match only a rule naming them
 * exactly, never a wildcard. DNS answers are not checked here: in production the
 * global_fetch_strictly_public flag keeps fetch() off private addresses.
 */

export interface AllowRule {
  scheme: "http:" | "https:";
  /** Lowercase host; for a wildcard, the suffix including its leading dot (".example.com"). */
  host: string;
  wildcard: boolean;
  /** The one port allowed; the scheme's default port when the rule names none. */
  port: number;
}

export type AllowList = readonly AllowRule[];

const DEFAULT_PORT = { "http:": 80, "https:": 443 } as const;
const SPECIAL_SUFFIXES = [".localhost", ".local", ".internal", ".home.arpa", ".arpa"];

/** Parses one rule; throws a message naming the rule when it is malformed. */
export function parseAllowRule(text: string): AllowRule {
  const raw = text.trim();
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw);
  const wildcard = /^(?:https?:\/\/)?\*\./i.test(raw);
  let url: URL;
  try {
    url = new URL(hasScheme ? raw.replace("*.", "wildcard.") : `https://${raw.replace("*.", "wildcard.")}`);
  } catch {
    throw new Error(`allow-list rule "${raw}" is not a host, *.suffix or URL origin`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`allow-list rule "${raw}" must be http or https`);
  if (url.username || url.password || (url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    throw new Error(`allow-list rule "${raw}" must be a bare origin (no path, query or credentials)`);
  }
  const scheme = url.protocol;
  const port = url.port ? Number(url.port) : DEFAULT_PORT[scheme];
  const host = wildcard ? url.hostname.slice("wildcard".length) : url.hostname;
  if (wildcard && host.split(".").filter(Boolean).length < 2) throw new Error(`allow-list rule "${raw}" wildcards a top-level domain`);
  return { scheme, host, wildcard, port };
}

/** Parses a comma- or whitespace-separated list of rules. */
export function parseAllowList(text: string): AllowList {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(parseAllowRule);
}

export function isIpLiteral(hostname: string): boolean {
  return hostname.startsWith("[") || /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname);
}

function isSpecialName(hostname: string): boolean {
  return hostname === "localhost" || SPECIAL_SUFFIXES.some((suffix) => hostname.endsWith(suffix)) || !hostname.includes(".");
}

function ruleMatches(rule: AllowRule, url: URL): boolean {
  const port = url.port ? Number(url.port) : DEFAULT_PORT[url.protocol as keyof typeof DEFAULT_PORT];
  if (rule.scheme !== url.protocol || rule.port !== port) return false;
  if (!rule.wildcard) return rule.host === url.hostname;
  if (isIpLiteral(url.hostname) || isSpecialName(url.hostname)) return false;
  return url.hostname.endsWith(rule.host) && url.hostname.length > rule.host.length;
}

/**
 * Returns the parsed URL when `target` may be fetched, or throws `forbidden_target` saying why.
 * The WHATWG parser has already normalised tricks like 2130706433 or 0x7f.0.0.1 to 127.0.0.1.
 */
export function checkTarget(target: string | URL, allowList: AllowList, base?: string): URL {
  let url: URL;
  try {
    url = new URL(target, base);
  } catch {
    throw new FanoutError("forbidden_target", "the target is not a valid absolute URL");
  }
  const shown = `${url.protocol}//${url.host}`;
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new FanoutError("forbidden_target", `scheme ${url.protocol} is not allowed; only http(s) to allow-listed hosts`);
  }
  if (url.username || url.password) throw new FanoutError("forbidden_target", "URLs with credentials (userinfo) are not allowed");
  if (!allowList.some((rule) => ruleMatches(rule, url))) {
    throw new FanoutError("forbidden_target", `${shown} is not on the upstream allow-list`);
  }
  return url;
}
