import CachePolicy from "http-cache-semantics";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "./server";

/**
 * The demo composites under `npm start`, offline (seeded D1 and KV, /v1/sim/ upstreams), judged by
 * what a client's cache would do with their real answers: http-cache-semantics, RFC 9111's model
 * (a browser's cache: `shared: false`), decides whether a stored answer may be reused. The `home`
 * answer for one Accept-Language is never reused for another; the `product` answer with fallback
 * data is reusable for its 5 seconds only; `?include=reviews` is another URL, never the same answer;
 * its related items come from the bulk simulated upstream.
 */

const PORT = 8841;
const KEY = { authorization: "Bearer fanout-local-demo-key" };
let server: RunningServer;

beforeAll(async () => {
  server = await startServer(PORT);
});
afterAll(async () => {
  await server?.stop();
});

/** A request as http-cache-semantics models it. */
const requestOf = (path: string, headers: Record<string, string>): CachePolicy.Request => ({
  url: path,
  method: "GET",
  headers: { host: `localhost:${PORT}`, ...headers },
});

/** A fetch answer's headers as a plain record. */
function headersOf(headers: Headers): Record<string, string> {
  const record: Record<string, string> = {};
  headers.forEach((value, name) => {
    record[name] = value;
  });
  return record;
}

/** Calls the server and models the answer as a browser's cache would store it. */
async function fetchAndModel(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.origin}${path}`, { headers });
  const body = await res.text();
  const response: CachePolicy.Response = { status: res.status, headers: headersOf(res.headers) };
  return { res, body, policy: new CachePolicy(requestOf(path, headers), response, { shared: false }) };
}

describe("home: Vary keeps languages apart in a client's cache", () => {
  const path = "/v1/c/home?user=1";

  it("an answer stored for Accept-Language: en is reused for en, never for de", async () => {
    const { res, policy } = await fetchAndModel(path, { ...KEY, "accept-language": "en" });
    expect(res.status).toBe(200);
    expect(policy.storable()).toBe(true);
    expect(policy.satisfiesWithoutRevalidation(requestOf(path, { ...KEY, "accept-language": "en" }))).toBe(true);
    expect(policy.satisfiesWithoutRevalidation(requestOf(path, { ...KEY, "accept-language": "de" }))).toBe(false);
    // The model is not lenient: had the answer varied on Origin only (as before issue 20), it would have been reused.
    const originOnly = new CachePolicy(
      requestOf(path, { ...KEY, "accept-language": "en" }),
      { status: 200, headers: { ...headersOf(res.headers), vary: "Origin" } },
      { shared: false },
    );
    expect(originOnly.satisfiesWithoutRevalidation(requestOf(path, { ...KEY, "accept-language": "de" }))).toBe(true);
  });

  it("the de answer is another document: its own language", async () => {
    const { res, body } = await fetchAndModel(path, { ...KEY, "accept-language": "de" });
    expect(res.status).toBe(200);
    expect((JSON.parse(body) as { recommendedFor: { lang: string } }).recommendedFor.lang).toBe("de");
  });
});

describe("product: a when, a fallback and its shorter cache life, a bulk forEach", () => {
  it("serves the fallback, named, and a client's cache keeps it for 5 s at most", async () => {
    const { res, body, policy } = await fetchAndModel("/v1/c/products/7");
    expect(res.status).toBe(200);
    expect(JSON.parse(body)).toEqual({
      product: { id: "7", name: "Product 7" },
      promo: { banner: "Free shipping on orders over $50" },
      // The bulk forEach's items, from /v1/sim/items in two calls.
      related: [2, 3, 5, 8, 13].map((id) => ({ id, name: `Item ${id}` })),
    });
    expect(res.headers.get("fanout-fallback")).toBe("promo");
    expect(policy.storable()).toBe(true);
    expect(policy.timeToLive()).toBeLessThanOrEqual(5_000);
    expect(policy.satisfiesWithoutRevalidation(requestOf("/v1/c/products/7", {}))).toBe(true);
    expect(policy.satisfiesWithoutRevalidation(requestOf("/v1/c/products/7?include=reviews", {}))).toBe(false);
  });

  it("?include=reviews runs the reviews step", async () => {
    const { res, body } = await fetchAndModel("/v1/c/products/7?include=reviews");
    expect(res.status).toBe(200);
    expect((JSON.parse(body) as { reviews: unknown }).reviews).toEqual({ stars: "5", text: "Great" });
  });
});
