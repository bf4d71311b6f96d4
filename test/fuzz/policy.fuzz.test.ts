import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FanoutError } from "../../lib/base/errors";
import { checkTarget, parseAllowList } from "../../lib/base/policy";
import { fuzzParameters } from "./fuzz";

/**
 * The allow-list, tested against a model written here from the README's rules (not from
 * lib/policy.ts): a target is fetched only when its scheme, host and port match one rule exactly,
 * and no spelling of a host that no rule names gets through.
 */

interface RuleModel {
  scheme: "http:" | "https:";
  /** Lowercase, as the URL parser prints it; for a wildcard, the suffix without "*." */
  host: string;
  wildcard: boolean;
  port: number;
  text: string;
}

const DEFAULT_PORT: Record<string, number> = { "http:": 80, "https:": 443 };

/** Hosts rules may name exactly, and suffixes they may wildcard. */
const EXACT_HOSTS = [
  "api.example.com",
  "example.org",
  "a.b.c.example.net",
  "xn--bcher-kva.example",
  "localhost",
  "127.0.0.1",
  "10.1.2.3",
  "192.168.0.10",
  "[::1]",
  "[2001:db8::1]",
  "svc.corp.internal",
];
const WILDCARD_SUFFIXES = ["example.com", "cdn.example.net", "corp.internal", "example.co.uk"];

/** Hosts no generated rule names (checked against the model too): metadata, loopback, near misses. */
const FORBIDDEN_HOSTS = [
  "169.254.169.254",
  "127.0.0.2",
  "0.0.0.0",
  "10.0.0.1",
  "192.168.0.1",
  "255.255.255.255",
  "8.8.8.8",
  "[::]",
  "[::2]",
  "[fe80::1]",
  "[::ffff:a9fe:a9fe]",
  "[2001:db8::2]",
  "evil.com",
  "localhost.evil.com",
  "api.example.com.evil.com",
  "evilapi.example.com",
  "example.com",
  "cdn.example.net",
  "x.cdn.example.net.evil.org",
  "metadata.google.internal",
  "instance-data",
  "x.localhost",
  "printer.local",
  "1.0.0.127.in-addr.arpa",
  "example.org.evil.com",
  "xn--bcher-kva.example.evil",
  "corp.internal",
  "com",
  "co.uk",
];

const ruleArb: fc.Arbitrary<RuleModel> = fc
  .record({
    wildcard: fc.boolean(),
    exact: fc.constantFrom(...EXACT_HOSTS),
    suffix: fc.constantFrom(...WILDCARD_SUFFIXES),
    scheme: fc.constantFrom("https:", "http:") as fc.Arbitrary<"http:" | "https:">,
    writeScheme: fc.boolean(),
    port: fc.option(fc.oneof(fc.constantFrom(80, 443, 8080, 8443), fc.integer({ min: 1, max: 65_535 }))),
    upper: fc.boolean(),
  })
  .map(({ wildcard, exact, suffix, scheme: wanted, writeScheme, port, upper }) => {
    // A rule without a scheme is https; plain http must be written out.
    const scheme = wanted === "http:" || writeScheme ? wanted : "https:";
    const written = wildcard ? `*.${suffix}` : exact;
    const text = `${scheme === "http:" || writeScheme ? `${scheme}//` : ""}${upper ? written.toUpperCase() : written}${port !== null ? `:${port}` : ""}`;
    return { scheme, host: wildcard ? suffix : exact, wildcard, port: port ?? DEFAULT_PORT[scheme]!, text };
  });

const rulesArb = fc.array(ruleArb, { minLength: 1, maxLength: 5 });

/** The rules as an operator writes them: commas, spaces or newlines between (varied, but reproducibly). */
function allowListOf(rules: readonly RuleModel[]) {
  return parseAllowList(rules.map((rule) => rule.text).join([", ", " ", ",", "\n"][rules.length % 4]));
}

/** The README's definition of an IP literal and of the special-use names a wildcard never covers. */
function isIpOrSpecial(hostname: string): boolean {
  if (hostname.startsWith("[") || /^\d+\.\d+\.\d+\.\d+$/.test(hostname)) return true;
  if (!hostname.includes(".") || hostname === "localhost") return true;
  return [".localhost", ".local", ".internal", ".arpa"].some((suffix) => hostname.endsWith(suffix));
}

/** The model: does a parsed URL match one rule exactly? */
function modelAccepts(rules: readonly RuleModel[], url: URL): boolean {
  if (url.username !== "" || url.password !== "") return false;
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  const port = url.port === "" ? DEFAULT_PORT[url.protocol]! : Number(url.port);
  return rules.some((rule) => {
    if (rule.scheme !== url.protocol || rule.port !== port) return false;
    if (!rule.wildcard) return url.hostname === rule.host;
    return url.hostname.endsWith(`.${rule.host}`) && !isIpOrSpecial(url.hostname);
  });
}

/** Whether any rule could name `host` at all (any scheme, any port). */
function anyRuleNames(rules: readonly RuleModel[], host: string): boolean {
  return rules.some((rule) => (rule.wildcard ? host.endsWith(`.${rule.host}`) && !isIpOrSpecial(host) : rule.host === host));
}

function refused(target: string, allowList: ReturnType<typeof parseAllowList>): void {
  let accepted: URL | undefined;
  try {
    accepted = checkTarget(target, allowList);
  } catch (error) {
    expect(error).toBeInstanceOf(FanoutError);
    expect((error as FanoutError).code).toBe("forbidden_target");
    return;
  }
  throw new Error(`${JSON.stringify(target)} was accepted as ${accepted.href}`);
}

// ---- Spellings of a host ----------------------------------------------------------------------

const dotted = (host: string) => host.split(".").map(Number);

/** The many ways the WHATWG parser lets a client write one IPv4 address. */
function ipv4Spellings(host: string): fc.Arbitrary<string> {
  const [a, b, c, d] = dotted(host) as [number, number, number, number];
  const value = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
  const part = (n: number) =>
    fc.constantFrom(
      String(n),
      `0x${n.toString(16)}`,
      `0X${n.toString(16).toUpperCase()}`,
      `0${n.toString(8)}`,
      `0x${n.toString(16).padStart(4, "0")}`,
    );
  return fc.oneof(
    fc.constant(String(value)),
    fc.constantFrom(`0x${value.toString(16)}`, `0${value.toString(8)}`, `${host}.`),
    fc.tuple(part(a), part(b), part(c), part(d)).map((parts) => parts.join(".")),
    fc.tuple(part(a), part(b), part((c << 8) + d)).map((parts) => parts.join(".")),
    fc.tuple(part(a), part((b << 16) + (c << 8) + d)).map((parts) => parts.join(".")),
    fc.constant(`${a}.${b}.${c}.${d}`.replace(/\d/, (digit) => `%3${digit}`)),
    fc.constantFrom(
      `[::ffff:${host}]`,
      `[0:0:0:0:0:ffff:${host}]`,
      `[::ffff:${((a << 8) + b).toString(16)}:${((c << 8) + d).toString(16)}]`,
      `[::${host}]`,
    ),
  );
}

/** The ways to write an IPv6 literal: zero runs, case, embedded IPv4. */
function ipv6Spellings(host: string): fc.Arbitrary<string> {
  const inner = host.slice(1, -1);
  const expanded = inner.includes("::")
    ? (() => {
        const [left, right] = inner.split("::") as [string, string];
        const l = left ? left.split(":") : [];
        const r = right ? right.split(":") : [];
        return [...l, ...Array(8 - l.length - r.length).fill("0"), ...r];
      })()
    : inner.split(":");
  return fc.constantFrom(
    host,
    `[${expanded.join(":")}]`,
    `[${expanded.map((g) => g.padStart(4, "0")).join(":")}]`,
    host.toUpperCase(),
    `${host}.`,
  );
}

/** Case changes, percent-encoding, trailing dots, fullwidth letters, ignored characters. */
function nameSpellings(host: string): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constant(host),
    fc.mixedCase(fc.constant(host)),
    fc.constant(`${host}.`),
    fc
      .nat({ max: host.length - 1 })
      .map((i) => `${host.slice(0, i)}%${host.charCodeAt(i).toString(16).padStart(2, "0")}${host.slice(i + 1)}`),
    fc.constant(host.replace(/[a-z]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) - 0x61 + 0xff41))),
    fc.nat({ max: host.length }).map((i) => `${host.slice(0, i)}\u00AD${host.slice(i)}`),
    fc.nat({ max: host.length }).map((i) => `${host.slice(0, i)}\t${host.slice(i)}`),
  );
}

function hostSpellings(host: string): fc.Arbitrary<string> {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return fc.oneof(fc.constant(host), ipv4Spellings(host));
  if (host.startsWith("[")) return ipv6Spellings(host);
  return nameSpellings(host);
}

/** A whole URL around a spelled host: scheme spellings, slashes, userinfo, port, path. */
function urlAround(spelledHost: fc.Arbitrary<string>, userinfoHosts: readonly string[]): fc.Arbitrary<string> {
  return fc
    .record({
      scheme: fc.constantFrom("http:", "https:", "HTTP:", "HtTpS:"),
      slashes: fc.constantFrom("//", "//", "//", "\\\\", "/", "", "///", "/\\"),
      userinfo: fc.oneof(
        { weight: 5, arbitrary: fc.constant("") },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            "user@",
            "user:pass@",
            ":@",
            "@",
            ...userinfoHosts.map((host) => `${host}@`),
            ...userinfoHosts.map((host) => `${host}:443@`),
          ),
        },
      ),
      host: spelledHost,
      port: fc.oneof(
        { weight: 3, arbitrary: fc.constant("") },
        { weight: 2, arbitrary: fc.constantFrom(":80", ":443", ":", ":080", ":0443", ":8080", ":8443") },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 65_535 }).map((p) => `:${p}`) },
      ),
      path: fc.constantFrom("", "/", "/x?y=1#z", "?q", "#f", "/..%2f..", "@evil.com"),
    })
    .map(({ scheme, slashes, userinfo, host, port, path }) => `${scheme}${slashes}${userinfo}${host}${port}${path}`);
}

const hostOfRule = (rule: RuleModel, label: string) => (rule.wildcard ? `${label}.${rule.host}` : rule.host);

/** Near misses of the rules' own hosts: prefixed, suffixed, the wildcard's apex, a label glued on. */
function nearMisses(rules: readonly RuleModel[]): string[] {
  return rules.flatMap((rule) =>
    rule.host.startsWith("[")
      ? []
      : [
          `evil${rule.host}`,
          `${rule.host}.evil.com`,
          `${rule.host}-evil.com`,
          `x${rule.host.split(".").slice(1).join(".") || "x"}`,
          rule.host.replace(/^[^.]+\./, "evil."),
        ],
  );
}

/** Hosts that no rule names: the fixed list and the rules' near misses. */
function forbiddenFor(rules: readonly RuleModel[]): string[] {
  return [...FORBIDDEN_HOSTS, ...nearMisses(rules)].filter((host) => !anyRuleNames(rules, host));
}

/** A forbidden host in a URL: any shape, or exactly the scheme and port of one rule (so only the host is wrong). */
function forbiddenUrl(rules: readonly RuleModel[]): fc.Arbitrary<string> {
  const hosts = forbiddenFor(rules);
  const userinfoHosts = rules.filter((rule) => !rule.wildcard).map((rule) => rule.host);
  return fc.oneof(
    fc.constantFrom(...hosts).chain((host) => urlAround(hostSpellings(host), userinfoHosts)),
    fc
      .tuple(fc.constantFrom(...hosts).chain(hostSpellings), fc.constantFrom(...rules))
      .map(([host, rule]) => `${rule.scheme}//${host}:${rule.port}/`),
  );
}

describe("the upstream allow-list (fuzz)", () => {
  it("every URL checkTarget accepts matches one rule's scheme, host and port exactly", () => {
    fc.assert(
      fc.property(
        rulesArb.chain((rules) =>
          fc.tuple(
            fc.constant(rules),
            fc.oneof(
              // Spellings of the rules' own hosts, on any scheme and port.
              fc
                .tuple(fc.constantFrom(...rules), fc.constantFrom("api", "a.b", "x-1", "xn--bcher-kva", "127", "localhost"))
                .chain(([rule, label]) => urlAround(hostSpellings(hostOfRule(rule, label)), [])),
              // Spellings of forbidden hosts and near misses, with the rules' hosts as userinfo.
              forbiddenUrl(rules),
              fc.webUrl({
                withQueryParameters: true,
                withFragments: true,
                validSchemes: ["http", "https", "ftp", "javascript", "file", "data", "ws"],
              }),
              fc.string({ maxLength: 40 }),
            ),
          ),
        ),
        ([rules, target]) => {
          let accepted: URL;
          try {
            accepted = checkTarget(target, allowListOf(rules));
          } catch (error) {
            expect(error).toBeInstanceOf(FanoutError);
            expect((error as FanoutError).code).toBe("forbidden_target");
            return;
          }
          expect(modelAccepts(rules, accepted), `${JSON.stringify(target)} accepted as ${accepted.href}`).toBe(true);
          // What is fetched is what the client asked for, as the URL parser reads it.
          expect(accepted.href).toBe(new URL(target).href);
        },
      ),
      fuzzParameters(),
    );
  });

  it("no spelling of a host that no rule names is accepted (case, dots, userinfo, percent, IPv4 and IPv6 forms, ports)", () => {
    fc.assert(
      fc.property(
        rulesArb.chain((rules) => fc.tuple(fc.constant(rules), forbiddenUrl(rules))),
        ([rules, target]) => refused(target, allowListOf(rules)),
      ),
      fuzzParameters(),
    );
  });

  it("an allowed host on a port or scheme its rule does not name is refused", () => {
    fc.assert(
      fc.property(
        rulesArb,
        fc.nat(),
        fc.integer({ min: 1, max: 65_535 }),
        fc.constantFrom("http:", "https:"),
        (rules, pick, port, scheme) => {
          const rule = rules[pick % rules.length]!;
          const host = hostOfRule(rule, "api");
          const url = new URL(`${scheme}//${host}:${port}/`);
          fc.pre(!modelAccepts(rules, url));
          refused(`${scheme}//${host}:${port}/`, allowListOf(rules));
        },
      ),
      fuzzParameters(),
    );
  });

  it("the canonical URL of every rule is accepted (the model is not vacuous)", () => {
    fc.assert(
      fc.property(
        rulesArb,
        fc.nat(),
        fc.constantFrom("api", "a.b", "x-1"),
        fc.constantFrom("/", "/v1/x?y=1", ""),
        (rules, pick, label, path) => {
          const rule = rules[pick % rules.length]!;
          fc.pre(!rule.wildcard || !isIpOrSpecial(`${label}.${rule.host}`));
          const target = `${rule.scheme}//${hostOfRule(rule, label)}:${rule.port}${path}`;
          expect(checkTarget(target, allowListOf(rules)).href).toBe(new URL(target).href);
        },
      ),
      fuzzParameters(),
    );
  });

  it("a non-canonical spelling of an allowed IPv4 address is refused (127.1, 0177.0.0.1, 0x7f000001, 2130706433)", () => {
    const ipRules = fc
      .array(ruleArb, { minLength: 1, maxLength: 4 })
      .filter((rules) => rules.some((rule) => !rule.wildcard && /^\d+\.\d+\.\d+\.\d+$/.test(rule.host)));
    fc.assert(
      fc.property(
        ipRules.chain((rules) => {
          const ipRule = rules.find((rule) => !rule.wildcard && /^\d+\.\d+\.\d+\.\d+$/.test(rule.host))!;
          return fc.tuple(
            fc.constant(rules),
            ipv4Spellings(ipRule.host).filter((spelled) => !spelled.startsWith("[") && spelled !== ipRule.host),
            fc.constant(ipRule),
          );
        }),
        ([rules, spelled, rule]) => refused(`${rule.scheme}//${spelled}:${rule.port}/`, allowListOf(rules)),
      ),
      fuzzParameters(),
    );
  });
});
