import { describe, expect, it } from "vitest";
import { createApp } from "../../functions/index";
import { loadComposites } from "../../lib/composite/catalog";
import { getFrom, UPSTREAM, upstreamHits } from "./batch-helpers";
import { captureLogs } from "./helpers";

/**
 * A composite's conditional steps through its route (`?include=reviews`): a step whose `when` is
 * false is not called, what needs it is skipped with it, the document leaves their fields out, and
 * the answer is complete (200, cacheable, no fanout-incomplete) even for required steps. Upstream
 * hit counters on paths of this test's own.
 */

let unique = 0;
const fresh = (label: string) => `${label}-${Date.now().toString(36)}-${unique++}`;

function productComposite(key: string) {
  return {
    path: "product",
    auth: "apiKey",
    params: { include: { in: "query", type: "string", enum: ["reviews", "none"] } },
    headers: ["x-tier"],
    steps: [
      { id: "product", http: { url: `${UPSTREAM}/counter/${key}-product` } },
      // Required (the default): skipped by its condition it is not a failure.
      { id: "reviews", when: 'query.include == "reviews"', http: { url: `${UPSTREAM}/counter/${key}-reviews` } },
      { id: "reviewers", http: { url: `${UPSTREAM}/echo?count={{reviews.body.value}}` } },
      {
        id: "gold",
        required: false,
        when: 'headers.x-tier == "gold" and product.status == 200',
        http: { url: `${UPSTREAM}/counter/${key}-gold` },
      },
    ],
    output: {
      steps: { product: {}, reviews: {}, reviewers: { target: "query" }, gold: { group: "perks" } },
      fields: { reviewCount: "{{reviews.body.value}}", productValue: "{{product.body.value}}", perk: "{{gold.body.value}}" },
    },
    cache: { ttlSeconds: 60, vary: ["x-tier"] },
  };
}

const get = getFrom;

describe("composites with when", () => {
  it("?include=reviews gates the reviews step and what needs it; without it they are left out and never called", async () => {
    const key = fresh("when");
    const catalog = loadComposites({ composites: { p: productComposite(key) } });
    expect(catalog.broken).toEqual([]);
    const { app } = createApp(catalog);

    const without = await get(app, "/v1/c/product");
    expect(without.status).toBe(200);
    expect(await without.json()).toEqual({ product: { value: 0 }, productValue: 0 });
    expect(without.headers.get("fanout-incomplete")).toBeNull();
    // Complete, so cacheable and stored.
    expect(without.headers.get("cache-control")).toBe("private, max-age=60, stale-while-revalidate=0");
    expect(without.headers.get("cache-status")).toBe("fanout; fwd=uri-miss; stored");
    expect(await upstreamHits(`/counter/${key}-reviews`)).toBe(0);

    const withReviews = await get(app, "/v1/c/product?include=reviews", { "x-tier": "gold" });
    expect(withReviews.status).toBe(200);
    expect(await withReviews.json()).toEqual({
      product: { value: 0 },
      reviews: { value: 0 },
      reviewers: { count: "0" },
      perks: { value: 0 },
      reviewCount: 0,
      productValue: 0,
      perk: 0,
    });
    expect(await upstreamHits(`/counter/${key}-reviews`)).toBe(1);
    expect(await upstreamHits(`/counter/${key}-gold`)).toBe(1);
    expect(await upstreamHits(`/counter/${key}-product`)).toBe(2);
  });

  it("a {{...}} inside a when is a string literal, not a reference the catalog checks", () => {
    const composite = productComposite(fresh("when-literal"));
    composite.steps[1]!.when = 'query.include == "{{params.nope}}"';
    expect(loadComposites({ composites: { p: composite } }).broken).toEqual([]);
  });

  it("?debug=1 shows the skipped steps with the reason condition_false", async () => {
    const key = fresh("when-debug");
    const { app } = createApp(loadComposites({ composites: { p: productComposite(key) } }));
    const res = await get(app, "/v1/c/product?include=none&debug=1", { authorization: "Bearer admin-key-0123456789" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { results: Record<string, { ok: boolean; error?: unknown }> };
    expect(body.results.reviews!.error).toEqual({ code: "skipped", message: "condition false", reason: "condition_false" });
    expect(body.results.reviewers!.error).toMatchObject({ code: "skipped", dependency: "reviews", reason: "condition_false" });
    expect(body.results.gold!.error).toMatchObject({ reason: "condition_false" });
  });

  it("a composite whose when does not parse or reads an undeclared param is broken, naming the field", async () => {
    const broken = productComposite(fresh("when-broken"));
    broken.steps[1]!.when = 'query.include = "reviews"';
    broken.steps[3]!.when = 'headers.x-plan == "gold" or query.nope == 1';
    const catalog = loadComposites({ composites: { p: broken } });
    expect(catalog.composites).toEqual([]);
    expect(catalog.broken[0]!.problems).toEqual(
      expect.arrayContaining([
        { name: "steps[1].when", reason: 'at character 15: unexpected "=" (compare with ==)' },
        { name: "steps[3].when", reason: expect.stringMatching(/^\{\{headers\.x-plan\}\}: no header "x-plan" is declared/) },
        { name: "steps[3].when", reason: expect.stringMatching(/^\{\{query\.nope\}\}: no param "nope" is declared in the query/) },
      ]),
    );
    const errors = captureLogs("error");
    const { app } = createApp(catalog);
    expect((await get(app, "/v1/c/product")).status).toBe(503);
    expect(errors()).toEqual([expect.objectContaining({ code: "not_configured", detail: expect.stringContaining("steps[1].when") })]);
  });
});
