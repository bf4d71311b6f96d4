import { describe, expect, it } from "vitest";
import { parseConfig } from "../../lib/base/config";

describe("parseConfig", () => {
  it("applies defaults and parses the allow-list", () => {
    const config = parseConfig({ UPSTREAM_ALLOWLIST: "api.example.com" });
    expect(config).toMatchObject({ SIM_ENABLED: true, DEFAULT_TIMEOUT_MS: 10_000, MAX_DEADLINE_MS: 30_000, LOG_LEVEL: "info" });
    expect(config.UPSTREAM_ALLOWLIST).toHaveLength(1);
  });

  it("names the var that is wrong", () => {
    expect(() => parseConfig({ SIM_ENABLED: "yes" })).toThrow(/SIM_ENABLED/);
    expect(() => parseConfig({ DEFAULT_TIMEOUT_MS: "-5" })).toThrow(/DEFAULT_TIMEOUT_MS/);
    expect(() => parseConfig({ UPSTREAM_ALLOWLIST: "ftp://x.example.com" })).toThrow(
      /UPSTREAM_ALLOWLIST: allow-list rule "ftp:\/\/x.example.com"/,
    );
  });

  it("fails as not_configured (an operator problem), not as a client error", () => {
    expect(() => parseConfig({ LOG_LEVEL: "loud" })).toThrow(expect.objectContaining({ code: "not_configured", status: 503 }));
  });
});
