import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseJsonc } from "jsonc-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES } from "../../functions/http/access";
import { type RunningServer, startProductionServer } from "./server";

/**
 * The gateway as production ships it: `wrangler dev` with the repository's wrangler.toml and only
 * API_KEYS and UPSTREAM_ALLOWLIST set (no local.env). The demo surface is off, so its routes do not
 * exist, and an anonymous caller reaches no upstream: an upstream on the allow-list counts every
 * request that reaches it.
 */

const PORT = 8822;
const UPSTREAM_PORT = 8823;
const UPSTREAM = `http://127.0.0.1:${UPSTREAM_PORT}`;
const KEY = "production-key-0123456789";

let server: RunningServer;
let upstream: Server;
let upstreamHits = 0;

beforeAll(async () => {
  upstream = createServer((_req, res) => {
    upstreamHits++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"secret":"internal data"}');
  });
  await new Promise<void>((resolve) => upstream.listen(UPSTREAM_PORT, "127.0.0.1", resolve));
  const envFile = join(mkdtempSync(join(tmpdir(), "fanout-production-")), "production.env");
  writeFileSync(envFile, `API_KEYS="prod:${KEY}"\nUPSTREAM_ALLOWLIST="${UPSTREAM}"\n`);
  server = await startProductionServer(PORT, envFile);
});

afterAll(async () => {
  await server?.stop();
  upstream?.close();
});

const keyed = { authorization: `Bearer ${KEY}` };
// The composites file is JSONC (comments allowed), read as the Worker reads it.
const compositesFile = parseJsonc(readFileSync(new URL("../../functions/composites.jsonc", import.meta.url), "utf8")) as {
  prefix: string;
  composites: Record<string, { demo?: boolean; path: string }>;
};
const demoComposites = Object.entries(compositesFile.composites)
  .filter(([, composite]) => composite.demo)
  .map(([, composite]) => `GET ${compositesFile.prefix}${composite.path}`);
const demoRoutes = [
  ...Object.entries(ROUTES)
    .filter(([, rule]) => "demo" in rule && rule.demo)
    .map(([key]) => key),
  ...demoComposites,
];

describe("production settings (the shipped wrangler.toml, API_KEYS and UPSTREAM_ALLOWLIST only)", () => {
  it("/healthz says the demo surface is off", async () => {
    const res = await fetch(`${server.origin}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ features: { demo: false, batch: true, upstreamRules: 1 } });
  });

  it("every demo route answers 404 problem+json, with or without a key", async () => {
    expect(demoRoutes.length).toBeGreaterThan(10);
    for (const route of demoRoutes) {
      const path = route.split(" ")[1]!.replace(/:\w+/g, "1");
      for (const headers of [{}, keyed]) {
        const res = await fetch(`${server.origin}${path}?url=${encodeURIComponent(UPSTREAM)}`, { headers });
        expect(res.status, route).toBe(404);
        expect(res.headers.get("content-type"), route).toBe("application/problem+json");
        expect(((await res.json()) as { detail: string }).detail, route).toBe(`no route for GET ${path}`);
      }
    }
  });

  it("an anonymous caller reaches no upstream; a keyed one does", async () => {
    const batch = (headers: Record<string, string>) =>
      fetch(`${server.origin}/v1/batch`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify({ steps: [{ id: "u", http: { url: `${UPSTREAM}/export` } }] }),
      });
    expect((await batch({})).status).toBe(401);
    expect((await fetch(`${server.origin}/v1/examples/fetch?url=${encodeURIComponent(`${UPSTREAM}/export`)}`)).status).toBe(404);
    expect((await fetch(`${server.origin}/v1/jobs/00000000-0000-4000-8000-000000000000`)).status).toBe(401);
    expect((await fetch(`${server.origin}/v1/audit`)).status).toBe(401);
    expect(upstreamHits).toBe(0);

    const res = await batch(keyed);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { results: Record<string, { ok: boolean }> }).results.u).toMatchObject({ ok: true });
    expect(upstreamHits).toBe(1);
  });

  it("a relative /v1/sim/ step URL is a 400 naming the switch; /openapi.json lists no demo route", async () => {
    const res = await fetch(`${server.origin}/v1/batch`, {
      method: "POST",
      headers: { ...keyed, "content-type": "application/json" },
      body: JSON.stringify({ steps: [{ id: "s", http: { url: "/v1/sim/delay/1" } }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("DEMO_ENABLED");
    const document = (await (await fetch(`${server.origin}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(document.paths).filter((path) => /\/v1\/(sim|examples)\/|\/v1\/c\//.test(path))).toEqual([]);
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(["/healthz", "/v1/batch", "/v1/jobs/{id}", "/v1/audit"]));
  });
});
