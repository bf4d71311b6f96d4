import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import compositesText from "../../functions/composites.jsonc";
import { loadGateway } from "../../functions/index";
import { call } from "./helpers";

/**
 * The demo `product` composite of the real functions/composites.jsonc (issue 20 §7), as the gateway
 * serves it with the demo on: a `when` on ?include=reviews, a promotion that is down in the demo and
 * falls back to its default, cached only for fallbackTtlSeconds, related items fetched by a bulk
 * forEach in ceil(5 / 3) = 2 calls; and what /openapi.json says of it.
 */

interface Product {
  product: { id: string; name: string };
  reviews?: { stars: string; text: string };
  promo: { banner: string };
  related: Array<{ id: number; name: string }>;
}

/** The related items the demo declares (forEach [2, 3, 5, 8, 13]), as /v1/sim/items answers them. */
const RELATED = [2, 3, 5, 8, 13].map((id) => ({ id, name: `Item ${id}` }));

/** A product id of its own per test: the composite's answers are cached per id. */
let next = Math.floor(Date.now() % 100_000) * 10;
const productPath = (query = "") => `/v1/c/products/${++next}${query}`;

describe("the demo product composite", () => {
  it("without ?include=reviews: no reviews, the promotion's fallback named, cached for 5 s only", async () => {
    const path = productPath();
    const res = await call(path);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Product;
    expect(body).toEqual({
      product: { id: String(next), name: `Product ${next}` },
      promo: { banner: "Free shipping on orders over $50" },
      related: RELATED,
    });
    expect(res.headers.get("fanout-fallback")).toBe("promo");
    expect(res.headers.get("fanout-incomplete")).toBeNull();
    expect(res.headers.get("cache-control")).toBe("public, max-age=5");
    // Its steps' timings tell the truth: the promotion did fail, reviews never ran.
    expect(res.headers.get("server-timing")).toMatch(/step-promo;dur=[\d.]+;desc="http_status"/);
    expect(res.headers.get("server-timing")).toMatch(/step-reviews;dur=[\d.]+;desc="skipped"/);
    const again = await call(path);
    expect(again.headers.get("cache-status")).toMatch(/^fanout; hit/);
    expect(again.headers.get("fanout-fallback")).toBe("promo");
  });

  it("with ?include=reviews the reviews are there", async () => {
    const res = await call(productPath("?include=reviews"));
    expect(res.status).toBe(200);
    expect(((await res.json()) as Product).reviews).toEqual({ stars: "5", text: "Great" });
  });

  it("another include is a 400 naming it", async () => {
    const res = await call(productPath("?include=everything"));
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain("include");
  });

  it("/openapi.json documents its parameters, fanout-fallback and the fallback's cache rule", async () => {
    const doc = (await (await call("/openapi.json")).json()) as {
      paths: Record<
        string,
        {
          get: {
            parameters: Array<{ name: string; in: string }>;
            responses: Record<string, { headers?: Record<string, { description: string }> }>;
          };
        }
      >;
    };
    const operation = doc.paths["/v1/c/products/{id}"]!.get;
    expect(operation.parameters.map((param) => `${param.in} ${param.name}`).sort()).toEqual(["path id", "query include"]);
    const headers = operation.responses["200"]!.headers!;
    expect(headers["fanout-fallback"]?.description).toMatch(/fallback data/);
    expect(headers["Cache-Control"]?.description).toMatch(/fallbackTtlSeconds/);
  });
});

/**
 * The demo gateway with its in-process calls counted: every relative /v1/sim/ step URL is answered by
 * the app's own fetch (functions/index.ts reads app.fetch at each call), so wrapping it sees each one.
 */
function countingGateway() {
  const { app } = loadGateway(compositesText);
  const served = app.fetch;
  const simCalls: string[] = [];
  app.fetch = (request, ...rest) => {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/v1/sim/items")) simCalls.push(url.pathname + url.search);
    return served(request, ...rest);
  };
  const get = async (path: string) => {
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(`http://fanout.test${path}`), env, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  };
  return { get, simCalls };
}

describe("the demo product composite's bulk forEach", () => {
  it("gets its five related items in ceil(5 / 3) = 2 calls to /v1/sim/items, each item matched back by id", async () => {
    const { get, simCalls } = countingGateway();
    const res = await get(productPath());
    expect(res.status).toBe(200);
    expect(((await res.json()) as Product).related).toEqual(RELATED);
    expect(res.headers.get("fanout-incomplete")).toBeNull();
    expect(res.headers.get("server-timing")).toMatch(/step-related;dur=[\d.]+;desc="ok 200"/);
    expect(simCalls).toEqual(["/v1/sim/items?id=2&id=3&id=5", "/v1/sim/items?id=8&id=13"]);
  });

  it("its 200 schema in /openapi.json says related is an array of items with id and name", async () => {
    const doc = (await (await call("/openapi.json")).json()) as {
      paths: Record<
        string,
        { get: { responses: Record<string, { content: Record<string, { schema: { properties: Record<string, unknown> } }> }> } }
      >;
    };
    const document = doc.paths["/v1/c/products/{id}"]!.get.responses["200"]!.content["application/json"]!.schema;
    expect(document.properties.related).toEqual({ type: "array", items: { properties: { id: {}, name: {} } } });
  });
});
