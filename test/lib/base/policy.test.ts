import { describe, expect, it } from "vitest";
import { type AllowList, checkTarget, parseAllowList, parseAllowRule } from "../../../lib/base/policy";

const allowList = parseAllowList("api.example.com, *.cdn.example.net, api.example.com:8443, http://localhost:8787, http://127.0.0.1:9000");

function refusal(url: string, list: AllowList = allowList): string | undefined {
  try {
    checkTarget(url, list);
    return undefined;
  } catch (error) {
    return (error as { code: string }).code;
  }
}

describe("parseAllowRule", () => {
  it("reads hosts, wildcards, ports and explicit http", () => {
    expect(parseAllowRule("API.Example.com")).toEqual({ scheme: "https:", host: "api.example.com", wildcard: false, port: 443 });
    expect(parseAllowRule("*.example.com")).toEqual({ scheme: "https:", host: ".example.com", wildcard: true, port: 443 });
    expect(parseAllowRule("http://localhost:8787")).toEqual({ scheme: "http:", host: "localhost", wildcard: false, port: 8787 });
    expect(parseAllowRule("https://api.example.com:8443")).toMatchObject({ port: 8443 });
  });

  it("names a malformed rule", () => {
    expect(() => parseAllowRule("ftp://files.example.com")).toThrow(/ftp:\/\/files.example.com/);
    expect(() => parseAllowRule("https://api.example.com/path")).toThrow(/bare origin/);
    expect(() => parseAllowRule("https://user:pw@api.example.com")).toThrow(/bare origin/);
    expect(() => parseAllowRule("*.com")).toThrow(/top-level/);
  });
});

describe("checkTarget", () => {
  it("allows listed hosts on their scheme and port only", () => {
    expect(refusal("https://api.example.com/users/1")).toBeUndefined();
    expect(refusal("https://api.example.com:443/x")).toBeUndefined();
    expect(refusal("https://api.example.com:8443/x")).toBeUndefined();
    expect(refusal("https://img.cdn.example.net/a.png")).toBeUndefined();
    expect(refusal("http://localhost:8787/v1/sim/delay/1")).toBeUndefined();
    expect(refusal("http://127.0.0.1:9000/")).toBeUndefined();
  });

  it.each([
    ["http instead of https", "http://api.example.com/"],
    ["an unlisted port", "https://api.example.com:8080/"],
    ["an unlisted host", "https://evil.example.org/"],
    ["the wildcard's own apex", "https://cdn.example.net/"],
    ["a suffix trick", "https://evilcdn.example.net/"],
    ["loopback by IP", "http://127.0.0.1/"],
    ["loopback IPv6", "http://[::1]/"],
    ["decimal IP", "http://2130706433/"],
    ["hex IP", "http://0x7f.0.0.1/"],
    ["metadata address", "http://169.254.169.254/latest/meta-data/"],
    ["localhost on another port", "http://localhost/"],
    ["a file URL", "file:///etc/passwd"],
    ["userinfo", "https://user:pass@api.example.com/"],
    ["userinfo hiding the host", "https://api.example.com@evil.example.org/"],
    ["not a URL", "not a url"],
    ["a data URL", "data:text/plain,hi"],
  ])("refuses %s", (_, url) => {
    expect(refusal(url)).toBe("forbidden_target");
  });

  it("lets a wildcard match a name that merely starts like a special one", () => {
    expect(() => checkTarget("https://localhost.example.com/", parseAllowList("*.example.com"))).not.toThrow();
    expect(() => checkTarget("https://internal.example.com/", parseAllowList("*.example.com"))).not.toThrow();
  });

  // Each target below ends with its rule's suffix, so only the special-name guard refuses it.
  it.each([
    ["*.corp.internal", "https://api.corp.internal/"],
    ["*.corp.internal.", "https://api.corp.internal./"],
    ["*.dev.localhost", "https://app.dev.localhost/"],
    ["*.office.local", "https://printer.office.local/"],
    ["*.home.arpa", "https://nas.home.arpa/"],
    ["*.10.in-addr.arpa", "https://1.0.0.10.in-addr.arpa/"],
  ])("never lets the wildcard %s match the special-use name in %s", (rule, url) => {
    expect(new URL(url).hostname.endsWith(parseAllowRule(rule).host)).toBe(true);
    expect(() => checkTarget(url, parseAllowList(rule))).toThrow(/is not on the upstream allow-list/);
    // The same name is reachable when a rule names it exactly.
    expect(() => checkTarget(url, parseAllowList(url.replace(/\/$/, "")))).not.toThrow();
  });

  it("never lets a wildcard match an IP literal, even one built by hand (a rule string cannot express it)", () => {
    expect(() => parseAllowRule("*.0.1")).toThrow(/is not a host/);
    const numericSuffix = [{ scheme: "http:", host: ".0.1", wildcard: true, port: 80 }] as const;
    expect(() => checkTarget("http://10.0.0.1/", numericSuffix)).toThrow(/is not on the upstream allow-list/);
    expect(() => checkTarget("http://127.0.0.1/", numericSuffix)).toThrow(/is not on the upstream allow-list/);
  });

  it("says which origin was refused without echoing the path or query", () => {
    expect(() => checkTarget("https://evil.example.org/secret?token=abc", allowList)).toThrow(
      /^https:\/\/evil\.example\.org is not on the upstream allow-list \(UPSTREAM_ALLOWLIST\)$/,
    );
  });
});

describe("checkTarget: IPv4 addresses must be written as a canonical dotted quad", () => {
  // 127.0.0.1 is allowed by name, so only the spelling can be the reason for a refusal.
  const loopback = parseAllowList("http://127.0.0.1, http://127.0.0.1:9000");

  it.each([
    "http://127.1/",
    "http://127.0.1/",
    "http://0177.0.0.1/",
    "http://0x7f000001/",
    "http://0X7F000001/",
    "http://2130706433/",
    "http://0x7f.0.0.1/",
    "http://0x7f.1/",
    "http://017700000001/",
    "http://127.0.0.01/",
    "http://127.000.000.001/",
    "http://127.0.0.1./",
    "http://127.0.0.%31/",
    "http://127%2E0%2E0%2E1/",
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",
    "http://127\u30020\u30020\u30021/",
    "http://127.1:9000/x",
    "HTTP://127.1/",
    "  http://127.1/  ",
    "http://127.\t1/",
    "http:127.1/",
    "http:\\\\127.1\\x",
    "http://@127.1/",
  ])("refuses %j although it means the allowed 127.0.0.1", (url) => {
    expect(new URL(url).hostname).toBe("127.0.0.1");
    expect(() => checkTarget(url, loopback)).toThrow(/^non-canonical IPv4 address ".*" \(read as 127\.0\.0\.1\): write it as a\.b\.c\.d/);
    expect(refusal(url, loopback)).toBe("forbidden_target");
  });

  it("shows the address as it was written", () => {
    expect(() => checkTarget("http://0x7f000001:9000/admin?token=abc", loopback)).toThrow(
      'non-canonical IPv4 address "0x7f000001" (read as 127.0.0.1)',
    );
  });

  it.each([
    "http://127.0.0.1/",
    "http://127.0.0.1:9000/x",
    "http://127.0.0.1:80/",
    " http://127.0.0.1/ ",
    "http://127.0.0.1:9000/@127.1",
    "http://127.0.0.1:9000?to=127.1",
    "http://127.0.0.1:9000#@127.1",
  ])("still allows the canonical %j", (url) => {
    expect(checkTarget(url, loopback).hostname).toBe("127.0.0.1");
  });

  it("judges a relative reference (a redirect's Location) by the host it writes, or by its base when it writes none", () => {
    const base = "http://127.0.0.1:9000/redirect";
    for (const location of ["/next", "?page=2", "next", "http:/127.1", "http:127.1"]) {
      expect(checkTarget(location, loopback, base).host).toBe("127.0.0.1:9000");
    }
    for (const location of ["//127.1:9000/next", "\\\\127.1:9000/next", "/\\127.1:9000/next", "http://127.1:9000/next"]) {
      expect(new URL(location, base).host).toBe("127.0.0.1:9000");
      expect(() => checkTarget(location, loopback, base)).toThrow(/non-canonical IPv4 address "127\.1"/);
    }
    // Against an https base, "http:host" starts an authority rather than a path.
    expect(() => checkTarget("http:127.1:9000/next", loopback, "https://127.0.0.1/")).toThrow(/non-canonical IPv4 address "127\.1"/);
  });

  it("leaves names and IPv6 literals to the allow-list", () => {
    expect(() => checkTarget("https://API.Example.com/", allowList)).not.toThrow();
    expect(() => checkTarget("http://[::1]/", parseAllowList("http://[::1]"))).not.toThrow();
  });
});
