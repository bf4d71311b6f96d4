import { describe, expect, it } from "vitest";
import { checkTarget, parseAllowList, parseAllowRule } from "../../lib/policy";

const allowList = parseAllowList("api.example.com, *.cdn.example.net, api.example.com:8443, http://localhost:8787, http://127.0.0.1:9000");

function refusal(url: string): string | undefined {
  try {
    checkTarget(url, allowList);
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

  it("never lets a wildcard match an IP literal or special-use name", () => {
    const wide = parseAllowList("*.example.com");
    expect(() => checkTarget("https://localhost.example.com/", wide)).not.toThrow();
    expect(() => checkTarget("https://metadata.internal/", parseAllowList("*.internal.example.com"))).toThrow();
  });

  it("says which origin was refused without echoing the path or query", () => {
    expect(() => checkTarget("https://evil.example.org/secret?token=abc", allowList)).toThrow(/^https:\/\/evil\.example\.org is not on the upstream allow-list$/);
  });
});
