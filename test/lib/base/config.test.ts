import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../lib/base/config";
import { DEFAULT_SUBREQUEST_BUDGET, OWN_SUBREQUESTS, PAID_SUBREQUESTS } from "../../../lib/base/limits";

describe("parseConfig", () => {
  it("applies defaults and parses the allow-list", () => {
    const config = parseConfig({ UPSTREAM_ALLOWLIST: "api.example.com" });
    expect(config).toMatchObject({ DEMO_ENABLED: false, DEFAULT_TIMEOUT_MS: 10_000, MAX_DEADLINE_MS: 30_000, LOG_LEVEL: "info" });
    expect(config.UPSTREAM_ALLOWLIST).toHaveLength(1);
  });

  it("names the var that is wrong", () => {
    expect(() => parseConfig({ DEMO_ENABLED: "yes" })).toThrow(/DEMO_ENABLED/);
    expect(() => parseConfig({ DEFAULT_TIMEOUT_MS: "-5" })).toThrow(/DEFAULT_TIMEOUT_MS/);
    expect(() => parseConfig({ UPSTREAM_ALLOWLIST: "ftp://x.example.com" })).toThrow(
      /UPSTREAM_ALLOWLIST: allow-list rule "ftp:\/\/x.example.com"/,
    );
  });

  it("fails as not_configured (an operator problem), not as a client error", () => {
    expect(() => parseConfig({ LOG_LEVEL: "loud" })).toThrow(expect.objectContaining({ code: "not_configured", status: 503 }));
  });
});

/**
 * The runtime's subrequest limit always wins (a subrequest over it fails mid-batch); SUBREQUEST_BUDGET
 * is fanout's own earlier refusal, so with fanout's own subrequests added it must fit under the limit.
 */
describe("SUBREQUEST_BUDGET and the platform's subrequest limit", () => {
  it("leaves room for fanout's own subrequests under Workers Paid's default limit", () => {
    expect(DEFAULT_SUBREQUEST_BUDGET).toBeGreaterThan(0);
    expect(DEFAULT_SUBREQUEST_BUDGET + OWN_SUBREQUESTS).toBeLessThanOrEqual(PAID_SUBREQUESTS);
  });

  it("defaults to DEFAULT_SUBREQUEST_BUDGET", () => {
    expect(parseConfig({}).SUBREQUEST_BUDGET).toBe(DEFAULT_SUBREQUEST_BUDGET);
  });

  it("accepts up to 9,999,990 (the most `[limits] subrequests` allows, less fanout's own) and refuses more, naming the var", () => {
    expect(parseConfig({ SUBREQUEST_BUDGET: "9999990" }).SUBREQUEST_BUDGET).toBe(9_999_990);
    expect(() => parseConfig({ SUBREQUEST_BUDGET: "9999991" })).toThrow(/SUBREQUEST_BUDGET/);
    expect(() => parseConfig({ SUBREQUEST_BUDGET: "0" })).toThrow(/SUBREQUEST_BUDGET/);
  });
});
