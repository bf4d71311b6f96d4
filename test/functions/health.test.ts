import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("GET /healthz", () => {
  it("answers with version and features", async () => {
    const res = await exports.default.fetch("http://fanout.test/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: "ok",
      name: "fanout",
      features: { demo: true, batch: true, audit: true, upstreamRules: 2 },
    });
  });
});
