import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker, { createApp } from "../../functions/index";
import { parseConfig } from "../../lib/base/config";
import { loadComposites } from "../../lib/composite/catalog";
import { API_KEY } from "./batch-helpers";
import { BASE, expectProblem } from "./helpers";

const PAGE = "https://app.example.com";
const OTHER_PAGE = "https://evil.example.net";
const CORS = { CORS_ORIGINS: `${PAGE}, http://localhost:8814` };

/** Calls the worker with some configuration vars replaced. */
function fetchWith(vars: Record<string, string>, path: string, init: RequestInit = {}): Promise<Response> {
  return worker.fetch(new Request(BASE + path, init), { ...env, ...vars }, createExecutionContext()) as Promise<Response>;
}

function preflight(origin: string, requestHeaders = "authorization, content-type"): RequestInit {
  return {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": requestHeaders },
  };
}

function postBatch(origin: string | undefined, authorization = `Bearer ${API_KEY}`): RequestInit {
  return {
    method: "POST",
    headers: { authorization, "content-type": "application/json", ...(origin ? { origin } : {}) },
    body: JSON.stringify({ steps: [{ id: "a", wait: { ms: 1 } }] }),
  };
}

/** Every Access-Control-* header of a response. */
function corsHeaders(res: Response): Record<string, string> {
  return Object.fromEntries([...res.headers].filter(([name]) => name.startsWith("access-control-")));
}

function list(value: string | null): string[] {
  return (value ?? "").split(",").map((item) => item.trim().toLowerCase());
}

describe("CORS preflight", () => {
  it("answers an allowed origin with 204 and the CORS headers, before authentication", async () => {
    const res = await fetchWith(CORS, "/v1/batch", preflight(PAGE));
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(PAGE);
    expect(list(res.headers.get("access-control-allow-methods"))).toEqual(["get", "head", "post"]);
    expect(list(res.headers.get("access-control-allow-headers"))).toEqual(
      expect.arrayContaining(["authorization", "content-type", "accept", "idempotency-key", "prefer", "if-none-match", "traceparent"]),
    );
    expect(res.headers.get("access-control-max-age")).toBe("600");
    expect(res.headers.has("access-control-allow-credentials")).toBe(false);
    expect(list(res.headers.get("vary"))).toContain("origin");
    expect(await res.text()).toBe("");
  });

  it("is answered for every /v1/ path, whatever its methods or authentication", async () => {
    for (const path of ["/v1/c/home?user=1", "/v1/jobs/00000000-0000-4000-8000-000000000000", "/v1/audit", "/v1/nowhere"]) {
      const res = await fetchWith(CORS, path, preflight("http://localhost:8814"));
      expect(res.status, path).toBe(204);
      expect(res.headers.get("access-control-allow-origin"), path).toBe("http://localhost:8814");
    }
  });

  it("gives a disallowed origin a bare 204: no CORS headers at all, never a 401 or a 5xx", async () => {
    const res = await fetchWith(CORS, "/v1/batch", preflight(OTHER_PAGE));
    expect(res.status).toBe(204);
    expect(corsHeaders(res)).toEqual({});
    expect(list(res.headers.get("vary"))).toContain("origin");
  });

  it("answers a bare 204 when no origin is configured (the default)", async () => {
    const res = await fetchWith({}, "/v1/batch", preflight(PAGE));
    expect(res.status).toBe(204);
    expect(corsHeaders(res)).toEqual({});
    expect(res.headers.has("vary")).toBe(false);
  });

  it("leaves an OPTIONS request that is not a preflight to the routes (405 with Allow)", async () => {
    const res = await fetchWith(CORS, "/v1/sim/delay/1", { method: "OPTIONS" });
    await expectProblem(res, 405, "method_not_allowed");
    expect(corsHeaders(res)).toEqual({});
  });
});

describe("CORS on actual requests", () => {
  it("lets an allowed origin read the answer and the exposed headers", async () => {
    const res = await fetchWith(CORS, "/v1/batch", postBatch(PAGE));
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe(PAGE);
    expect(list(res.headers.get("access-control-expose-headers"))).toEqual([
      "x-request-id",
      "server-timing",
      "cache-status",
      "fanout-incomplete",
      "fanout-fallback",
      "etag",
      "age",
      "retry-after",
      "location",
    ]);
    expect(list(res.headers.get("vary"))).toContain("origin");
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect((await res.json()) as { completed: boolean }).toMatchObject({ completed: true });
  });

  it("lets a page read fanout-fallback on a composite that fell back (the demo product's promo)", async () => {
    const res = await fetchWith(CORS, `/v1/c/products/${Date.now() % 100_000}`, { headers: { origin: PAGE } });
    expect(res.status).toBe(200);
    expect(res.headers.get("fanout-fallback")).toBe("promo");
    expect(list(res.headers.get("access-control-expose-headers"))).toContain("fanout-fallback");
  });

  it("exposes every composite's forwarded headers, on every /v1/ answer", async () => {
    const catalog = loadComposites({
      composites: {
        account: {
          path: "account",
          auth: "apiKey",
          steps: [{ id: "profile", http: { url: "https://accounts.example.com/me" } }],
          forwardHeaders: { "x-ratelimit-remaining": "profile", "x-quota-reset": "profile" },
        },
      },
    });
    expect(catalog.broken).toEqual([]);
    const { app } = createApp(catalog);
    const res = await app.fetch(
      new Request(`${BASE}/v1/sim/delay/1`, { headers: { origin: PAGE } }),
      { ...env, ...CORS },
      createExecutionContext(),
    );
    expect(res.status).toBe(200);
    const exposed = list(res.headers.get("access-control-expose-headers"));
    expect(exposed).toEqual(expect.arrayContaining(["x-ratelimit-remaining", "x-quota-reset", "fanout-fallback", "x-request-id"]));
    // The default gateway forwards none of them.
    const plain = await fetchWith(CORS, "/v1/sim/delay/1", { headers: { origin: PAGE } });
    expect(list(plain.headers.get("access-control-expose-headers"))).not.toContain("x-ratelimit-remaining");
  });

  it("adds the CORS headers to a problem too, so a page can read why it failed", async () => {
    const res = await fetchWith(CORS, "/v1/batch", postBatch(PAGE, "Bearer wrong-key-0123456789"));
    await expectProblem(res, 401, "unauthorized");
    expect(res.headers.get("access-control-allow-origin")).toBe(PAGE);
  });

  it("still serves a disallowed origin (the browser, not the gateway, refuses to share it) but without CORS headers", async () => {
    const res = await fetchWith(CORS, "/v1/batch", postBatch(OTHER_PAGE));
    expect(res.status).toBe(200);
    expect(corsHeaders(res)).toEqual({});
    expect(list(res.headers.get("vary"))).toContain("origin");
  });

  it("sends no CORS headers without CORS_ORIGINS, nor to a request without Origin, nor outside /v1/", async () => {
    expect(corsHeaders(await fetchWith({}, "/v1/batch", postBatch(PAGE)))).toEqual({});
    expect(corsHeaders(await fetchWith(CORS, "/v1/batch", postBatch(undefined)))).toEqual({});
    expect(corsHeaders(await fetchWith(CORS, "/healthz", { headers: { origin: PAGE } }))).toEqual({});
  });

  it("allows credentials only with CORS_CREDENTIALS=true", async () => {
    const res = await fetchWith({ ...CORS, CORS_CREDENTIALS: "true" }, "/v1/batch", postBatch(PAGE));
    expect(res.headers.get("access-control-allow-credentials")).toBe("true");
    const pre = await fetchWith({ ...CORS, CORS_CREDENTIALS: "true" }, "/v1/batch", preflight(PAGE));
    expect(pre.headers.get("access-control-allow-credentials")).toBe("true");
  });

  it("answers every origin with * when CORS_ORIGINS is *", async () => {
    const res = await fetchWith({ CORS_ORIGINS: "*" }, "/v1/batch", postBatch(OTHER_PAGE));
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
  });
});

describe("CORS configuration", () => {
  it("takes exact origins, comma or space separated; none by default", () => {
    expect(parseConfig({}).CORS_ORIGINS).toEqual([]);
    expect(parseConfig({}).CORS_CREDENTIALS).toBe(false);
    expect(parseConfig({ CORS_ORIGINS: "https://a.example.com,http://localhost:8814 https://b.example.com:8443" }).CORS_ORIGINS).toEqual([
      "https://a.example.com",
      "http://localhost:8814",
      "https://b.example.com:8443",
    ]);
  });

  it.each([
    "https://a.example.com/",
    "https://a.example.com/app",
    "HTTPS://A.example.com",
    "https://a.example.com:443",
    "a.example.com",
    "null",
    "ftp://a.example.com",
    "*, https://a.example.com",
  ])("refuses %s, naming CORS_ORIGINS", (value) => {
    expect(() => parseConfig({ CORS_ORIGINS: value })).toThrow(/CORS_ORIGINS: /);
  });

  it("refuses credentials with a wildcard origin", () => {
    expect(() => parseConfig({ CORS_ORIGINS: "*", CORS_CREDENTIALS: "true" })).toThrow(/CORS_CREDENTIALS: credentials cannot be allowed/);
    expect(parseConfig({ CORS_ORIGINS: "*" }).CORS_ORIGINS).toEqual(["*"]);
    expect(parseConfig({ CORS_ORIGINS: PAGE, CORS_CREDENTIALS: "true" }).CORS_CREDENTIALS).toBe(true);
  });

  it("answers 503 not_configured, also to a preflight, when CORS_ORIGINS is invalid", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      await expectProblem(await fetchWith({ CORS_ORIGINS: "https://a.example.com/" }, "/v1/batch", preflight(PAGE)), 503, "not_configured");
      // The reason goes to the log.
      expect(logged.mock.calls.map(([line]) => String(line))).toContainEqual(
        expect.stringMatching(/"code":"not_configured".*CORS_ORIGINS/),
      );
    } finally {
      logged.mockRestore();
    }
  });
});
