import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("GET /healthz", () => {
  it("answers with version and features", async () => {
    const res = await exports.default.fetch("http://fanout.test/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: "ok",
      name: "fanout",
      // AUDIT_ENABLED is off in the tests' bindings (vitest.config.ts says why).
      features: { demo: true, batch: true, audit: false, upstreamRules: 2 },
    });
  });
});
