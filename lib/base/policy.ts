import { FanoutError } from "./errors";

/**
 * The upstream allow-list. fanout is SSRF-shaped: a client names URLs and fanout fetches them, so
 * every target (and every redirect hop) must match a rule here. Rules are written as
 *   api.example.com          https, default port only
 *   *.example.com            any subdomain of example.com (not example.com itself), https
 *   api.example.com:8443     https on that port only
 *   http://localhost:8787    plain http, only because the rule says so
 * IP literals and special-use names (localhost, *.internal, ...) match only a rule naming them
 * exactly, never a wildcard. An IPv4 address must be written as a canonical dotted quad
 * (127.0.0.1, not 127.1, 0x7f000001 or 2130706433). DNS answers are not checked here: in
 * production the global_fetch_strictly_public flag keeps fetch() off private addresses.
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

function isIpLiteral(hostname: string): boolean {
  return hostname.startsWith("[") || /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname);
}

function isSpecialName(hostname: string): boolean {
  // A fully qualified "api.corp.internal." is the same name as "api.corp.internal".
  const name = hostname.endsWith(".") ? hostname.slice(0, -1) : hostname;
  return name === "localhost" || SPECIAL_SUFFIXES.some((suffix) => name.endsWith(suffix)) || !name.includes(".");
}

function ruleMatches(rule: AllowRule, url: URL): boolean {
  const port = url.port ? Number(url.port) : DEFAULT_PORT[url.protocol as keyof typeof DEFAULT_PORT];
  if (rule.scheme !== url.protocol || rule.port !== port) return false;
  if (!rule.wildcard) return rule.host === url.hostname;
  if (isIpLiteral(url.hostname) || isSpecialName(url.hostname)) return false;
  return url.hostname.endsWith(rule.host) && url.hostname.length > rule.host.length;
}

/** What the WHATWG parser ignores in a URL string: C0 controls and spaces at either end, tabs and newlines anywhere. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the parser strips exactly these control characters, so this must too.
const URL_EDGES = /^[\u0000-\u0020]+|[\u0000-\u0020]+$/g;
const URL_TABS_AND_NEWLINES = /[\t\n\r]/g;
const SCHEME_PREFIX = /^([a-z][a-z\d+.-]*):/i;
/** Two slashes (either way round, as http(s) URLs allow) start an authority. */
const AUTHORITY_START = /^[/\\]{2}/;

/**
 * The host of an http(s) URL string as the client wrote it, before the WHATWG parser
 * percent-decodes and normalises it; undefined when the host comes from `base` (a relative
 * reference such as a redirect's "/next" or "?page=2"). It follows the parser's own reading:
 * backslashes count as slashes, "http:host" is an authority unless the base is also http, the
 * last "@" ends the userinfo, and a ":" outside [brackets] starts the port.
 */
function writtenHost(input: string, base: string | undefined): string | undefined {
  const text = input.replace(URL_EDGES, "").replace(URL_TABS_AND_NEWLINES, "");
  let rest = text;
  const scheme = SCHEME_PREFIX.exec(text);
  if (scheme) {
    rest = text.slice(scheme[0].length);
    const sameSchemeAsBase = base !== undefined && SCHEME_PREFIX.exec(base)?.[1]?.toLowerCase() === scheme[1]!.toLowerCase();
    if (sameSchemeAsBase && !AUTHORITY_START.test(rest)) return undefined;
  } else if (!AUTHORITY_START.test(rest)) {
    return undefined;
  }
  const authority = rest.replace(/^[/\\]+/, "").split(/[/\\?#]/, 1)[0]!;
  const hostAndPort = authority.slice(authority.lastIndexOf("@") + 1);
  if (hostAndPort.startsWith("[")) return hostAndPort.slice(0, hostAndPort.indexOf("]") + 1);
  return hostAndPort.split(":", 1)[0]!;
}

const IPV4_HOSTNAME = /^\d+\.\d+\.\d+\.\d+$/;

/**
 * The URLs checkTarget has passed, with the allow-list and the exact URL it passed: a caller that
 * checked a step's URL once (to find its origin) hands the same object to fetchUpstream, which then
 * takes it as checked instead of parsing and matching it again. A URL changed since, or checked
 * against another list, is checked again.
 */
const passed = new WeakMap<URL, { allowList: AllowList; href: string }>();

/** Whether `url` is the very object checkTarget returned for this allow-list, unchanged since. */
export function passedTarget(url: URL, allowList: AllowList): boolean {
  const entry = passed.get(url);
  return entry !== undefined && entry.allowList === allowList && entry.href === url.href;
}

/**
 * Returns the parsed URL when `target` may be fetched, or throws `forbidden_target` saying why.
 * The WHATWG parser turns 127.1, 0177.0.0.1, 0x7f000001 and 2130706433 into 127.0.0.1; such a
 * spelling is refused even when 127.0.0.1 is allowed, because no legitimate client writes one and
 * the audit log should show the address that was asked for. A URL object is taken as already
 * parsed (its spelling is gone); client input is passed as a string.
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
  if (typeof target === "string" && IPV4_HOSTNAME.test(url.hostname)) {
    const written = writtenHost(target, base);
    if (written !== undefined && written !== url.hostname) {
      const shownHost = JSON.stringify(written.length > 64 ? `${written.slice(0, 64)}...` : written);
      throw new FanoutError(
        "forbidden_target",
        `non-canonical IPv4 address ${shownHost} (read as ${url.hostname}): write it as a.b.c.d, four decimal numbers without leading zeros`,
      );
    }
  }
  if (url.username || url.password) throw new FanoutError("forbidden_target", "URLs with credentials (userinfo) are not allowed");
  if (!allowList.some((rule) => ruleMatches(rule, url))) {
    throw new FanoutError("forbidden_target", `${shown} is not on the upstream allow-list (UPSTREAM_ALLOWLIST)`);
  }
  passed.set(url, { allowList, href: url.href });
  return url;
}

/** @throws FanoutError `forbidden_target` naming `setting` when `key` is not under one of `prefixes`. */
export function checkPrefix(key: string, prefixes: readonly string[], what: string, setting: string): void {
  if (!prefixes.some((prefix) => key.startsWith(prefix))) {
    throw new FanoutError("forbidden_target", `${what} "${key}" is not under an allowed prefix (${setting})`);
  }
}
