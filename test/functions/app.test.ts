import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../functions/index";
import { call, expectProblem } from "./helpers";

describe("shared HTTP behaviour", () => {
  it("gives every response a request id, secure headers and Server-Timing", async () => {
    const res = await call("/healthz");
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("strict-transport-security")).toContain("max-age=");
    expect(res.headers.get("server-timing")).toContain("total");
  });

  it("keeps a caller's well-formed request id", async () => {
    const res = await call("/healthz", { headers: { "x-request-id": "client-abc-123" } });
    expect(res.headers.get("x-request-id")).toBe("client-abc-123");
  });

  it("answers an unknown path with a 404 problem", async () => {
    const body = await expectProblem(await call("/v1/nothing-here"), 404, "not_found");
    expect(body.detail).toBe("no route for GET /v1/nothing-here");
  });

  it("answers a wrong method with a 405 problem and an Allow header", async () => {
    const res = await call("/v1/sim/delay/1", { method: "POST" });
    await expectProblem(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")).toBe("GET, HEAD");
  });

  it("serves the OpenAPI document built from the validating schemas", async () => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    expect(doc.openapi).toBe("3.1.0");
    for (const path of [
      "/healthz",
      "/v1/sim/delay/{ms}",
      "/v1/sim/status/{code}",
      "/v1/sim/drip",
      "/v1/sim/bytes/{n}",
      "/v1/sim/flaky",
      "/v1/sim/items",
      "/v1/examples/coroutine",
      "/v1/examples/gather",
      "/v1/examples/callback",
      "/v1/examples/callback/{id}",
      "/v1/examples/fetch",
      "/v1/batch",
      "/v1/jobs/{id}",
      "/v1/audit",
    ]) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    for (const schema of [
      "Problem",
      "BatchRequest",
      "BatchResponse",
      "Step",
      "StepResult",
      "HttpStep",
      "KvStep",
      "R2Step",
      "D1Step",
      "CacheStep",
      "WaitStep",
    ]) {
      expect(doc.components.schemas, schema).toHaveProperty(schema);
    }
    const delay = doc.paths["/v1/sim/delay/{ms}"] as { get: { parameters: Array<{ name: string; schema: { maximum: number } }> } };
    expect(delay.get.parameters[0]).toMatchObject({ name: "ms", schema: { maximum: 30000 } });
  });
});

describe("configuration", () => {
  it("answers 503 not_configured for a bad var, without echoing which or why", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const res = await worker.fetch(
        new Request("http://fanout.test/healthz"),
        { ...env, UPSTREAM_ALLOWLIST: "ftp://secret-internal.example.com" },
        createExecutionContext(),
      );
      const body = await expectProblem(res, 503, "not_configured");
      expect(body.detail).not.toContain("UPSTREAM_ALLOWLIST");
      expect(body.detail).not.toContain("secret-internal");
      expect(body.detail).toContain(body.requestId!);
      expect(body.invalidParams).toBeUndefined();
      // The reason goes to the log, under the request id the client was given.
      const lines = logged.mock.calls.map(([line]) => String(line));
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`"requestId":"${body.requestId}".*UPSTREAM_ALLOWLIST`)));
    } finally {
      logged.mockRestore();
    }
  });

  /** An env whose LOG_LEVEL getter counts how often the configuration is parsed from it (the parse reads every var). */
  function countingEnv(vars: Record<string, string> = {}) {
    const counter = { reads: 0 };
    const counted = Object.defineProperty({ ...env, ...vars }, "LOG_LEVEL", {
      enumerable: true,
      get: () => {
        counter.reads++;
        return "warn";
      },
    });
    return { env: counted as typeof env, counter };
  }
  const fetchWith = (vars: typeof env, path = "/healthz", init?: RequestInit) =>
    worker.fetch(new Request(`http://fanout.test${path}`, init), vars, createExecutionContext());

  it("parses the configuration once per env object, and again for another env object", async () => {
    const first = countingEnv();
    for (let i = 0; i < 3; i++) expect((await fetchWith(first.env)).status).toBe(200);
    // A preflight is answered by the CORS middleware, which reads the configuration first.
    await fetchWith(first.env, "/v1/batch", {
      method: "OPTIONS",
      headers: { origin: "https://a.example", "access-control-request-method": "POST" },
    });
    expect(first.counter.reads).toBe(1);
    const second = countingEnv();
    expect((await fetchWith(second.env)).status).toBe(200);
    expect(second.counter.reads).toBe(1);
    expect(first.counter.reads).toBe(1);
  });

  it("answers 503 not_configured on every request for a bad configuration, parsed once", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const bad = countingEnv({ UPSTREAM_ALLOWLIST: "ftp://secret-internal.example.com" });
      for (let i = 0; i < 2; i++) {
        const body = await expectProblem(await fetchWith(bad.env), 503, "not_configured");
        expect(body.detail).not.toContain("secret-internal");
      }
      expect(bad.counter.reads).toBe(1);
      // Each answer logs the reason under its own request id.
      expect(logged.mock.calls.filter(([line]) => /UPSTREAM_ALLOWLIST/.test(String(line)))).toHaveLength(2);
    } finally {
      logged.mockRestore();
    }
  });

  it("hashes the configured API keys once per configuration and only the presented token per request", async () => {
    const vars = { ...env, API_KEYS: "one:first-key-0123456789, two:second-key-0123456789" };
    const digest = vi.spyOn(crypto.subtle, "digest");
    try {
      for (let i = 0; i < 3; i++) {
        const res = await fetchWith(vars, "/v1/batch", {
          method: "POST",
          headers: { authorization: "Bearer second-key-0123456789", "content-type": "application/json" },
          body: JSON.stringify({ steps: [{ id: "w", wait: { ms: 0 } }] }),
        });
        expect(res.status).toBe(200);
      }
      // 2 configured keys once, then 1 token per request.
      expect(digest).toHaveBeenCalledTimes(2 + 3);
    } finally {
      digest.mockRestore();
    }
  });

  it("checks API keys against each env object's own keys (digests kept per configuration)", async () => {
    const batch = (vars: typeof env, key: string) =>
      fetchWith(vars, "/v1/batch", {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ steps: [{ id: "w", wait: { ms: 0 } }] }),
      });
    const one = { ...env, API_KEYS: "one:first-key-0123456789, two:second-key-0123456789" };
    const other = { ...env, API_KEYS: "three:third-key-0123456789" };
    for (let i = 0; i < 2; i++) {
      expect((await batch(one, "first-key-0123456789")).status).toBe(200);
      expect((await batch(one, "second-key-0123456789")).status).toBe(200);
      expect((await batch(one, "third-key-0123456789")).status).toBe(401);
      expect((await batch(other, "third-key-0123456789")).status).toBe(200);
      expect((await batch(other, "first-key-0123456789")).status).toBe(401);
      expect((await batch(other, "third-key-012345678")).status).toBe(401);
    }
  });

  it("says in /healthz whether the demo surface is on", async () => {
    for (const demo of [true, false]) {
      const vars = { ...env, DEMO_ENABLED: String(demo) };
      const health = await worker.fetch(new Request("http://fanout.test/healthz"), vars, createExecutionContext());
      expect(await health.json()).toMatchObject({ features: { demo } });
    }
  });
});
