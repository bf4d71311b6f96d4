import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../functions/index";
import { API_KEY } from "../functions/batch-helpers";
import { BASE } from "../functions/helpers";
import { awkwardNumber, hostileString } from "./arbitraries";
import { fuzzParameters } from "./fuzz";

/**
 * Whatever query string and header values a client sends to the demo composites (home: an apiKey
 * composite with an integer param and a varied header; welcome: a public one with an enum param and
 * an optional step that always fails), the answer is a 200 document, a 304, a 4xx problem naming the
 * param or header at fault, or a 502/503/504 problem from the steps; never another 5xx, never a hang.
 * Answers are cached, which this property does not mind: a hit must look like a miss.
 */

/** The share of FUZZ_RUNS this property runs: each case is a whole HTTP request through the worker. */
const COMPOSITE_SHARE = 1;
/** A case that takes longer than this has hung (the composites' deadlines are 2-3 s). */
const HANG_MS = 8_000;

const COMPOSITES = {
  home: { params: ["user"], headers: ["accept-language"] },
  welcome: { params: ["channel"], headers: [] },
} as const;
type CompositeName = keyof typeof COMPOSITES;

/** Values a query param or header may carry: mostly plausible, sometimes hostile. */
const value = fc.oneof(
  // A few users and channels, so answers are sometimes cached and sometimes not.
  { weight: 6, arbitrary: fc.constantFrom("1", "2", "3", "web", "beta", "true", "") },
  { weight: 2, arbitrary: fc.constantFrom("0", "-1", "1.5", "1e3", "0x10", "01", "1000000001", "99999999999999999999", " 1", "WEB") },
  { weight: 2, arbitrary: awkwardNumber.map(String) },
  { weight: 2, arbitrary: hostileString.map((text) => text.slice(0, 2_000)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("{{user.body}}", "{{params.user}}", "{{headers.accept-language}}", "%zz", "%00", "a&b=c", "é", "\u00ff"),
  },
);

const queryKey = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("user", "channel") },
  { weight: 1, arbitrary: fc.constantFrom("debug", "other", "USER", "user[]", "__proto__", "") },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);

/** Pairs a real page would send, so that many cases get past validation and run (or hit the cache); user 3 does not exist (502). */
const plausiblePairs = fc.subarray([
  ["user", "1"],
  ["user", "2"],
  ["user", "3"],
  ["channel", "web"],
  ["channel", "beta"],
] as Array<[string, string]>);

/** A query string as a client writes it: plausible pairs and random ones (repeats too), encoded or, rarely, raw. */
const queryString = fc
  .tuple(plausiblePairs, fc.array(fc.tuple(queryKey, value), { maxLength: 3 }), fc.nat({ max: 9 }))
  .map(([plausible, random, coin]) => {
    const pairs = [...plausible, ...random];
    if (pairs.length === 0) return "";
    // Encoded as a form does (a lone surrogate becomes U+FFFD), or, rarely, written raw for the URL parser to make sense of.
    if (coin > 0) return `?${new URLSearchParams(pairs).toString()}`;
    return `?${pairs.map(([key, text]) => `${key}=${text}`).join("&")}`;
  });

const headerValues = fc.record(
  {
    "accept-language": value,
    "if-none-match": fc.oneof(fc.constantFrom("*", '"x"', 'W/"x"', ""), value),
    "x-unrelated": value,
  },
  { requiredKeys: [] },
);

/**
 * Request headers a client could send: a value that fetch refuses to put on the wire is left out, and
 * so is non-ASCII text (workerd warns about each) but for "é" and "\u00ff" in the header composites validate.
 */
function sendable(headers: Record<string, string>): Headers {
  const out = new Headers({ authorization: `Bearer ${API_KEY}` });
  for (const [name, text] of Object.entries(headers)) {
    const ascii = [...text].every((char) => char.charCodeAt(0) < 0x80);
    if (!ascii && (name !== "accept-language" || (text !== "é" && text !== "\u00ff"))) continue;
    try {
      out.set(name, text);
    } catch {
      // Not a ByteString, or holds CR, LF or NUL: no client can send it.
    }
  }
  return out;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function send(composite: CompositeName, query: string, headers: Headers): Promise<Answer> {
  const ctx = createExecutionContext();
  const res = (await worker.fetch(new Request(`${BASE}/v1/c/${composite}${query}`, { headers }), env, ctx)) as Response;
  const text = new TextDecoder().decode(await res.arrayBuffer());
  // Stores and refreshes after the response finish before the next case.
  await waitOnExecutionContext(ctx);
  return { status: res.status, headers: res.headers, text };
}

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${HANG_MS} ms`)), HANG_MS);
  });
  return Promise.race([work, hung]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}

function checkAnswer(composite: CompositeName, { status, headers, text }: Answer): void {
  const shown = `${composite}: ${status} ${headers.get("content-type")}: ${text.slice(0, 600)}`;
  const contentType = headers.get("content-type");
  if (status >= 500) {
    expect([502, 503, 504], `a 5xx that no step explains: ${shown}`).toContain(status);
    expect(contentType, shown).toBe("application/problem+json");
    expect((JSON.parse(text) as { code: string }).code, shown).not.toBe("internal");
    return;
  }
  if (status >= 400) {
    expect(contentType, `a 4xx that is not a problem: ${shown}`).toBe("application/problem+json");
    const problem = JSON.parse(text) as { code: string; invalidParams?: Array<{ name: string; reason: string }> };
    expect(problem.code, shown).not.toBe("internal");
    const fields = [...COMPOSITES[composite].params, ...COMPOSITES[composite].headers.map((name) => `header ${name}`), "debug"];
    expect(problem.invalidParams?.length ?? 0, `a 4xx naming no field: ${shown}`).toBeGreaterThan(0);
    for (const { name, reason } of problem.invalidParams ?? []) {
      expect(fields, `a 4xx naming "${name}", which the client did not get wrong: ${shown}`).toContain(name);
      if ((COMPOSITES[composite].params as readonly string[]).includes(name)) expect(reason, shown).toContain(name);
    }
    return;
  }
  if (status === 304) {
    expect(text, shown).toBe("");
    expect(headers.get("etag"), shown).toMatch(/^"[0-9a-f]{32}"$/);
    return;
  }
  expect(status, shown).toBe(200);
  expect(contentType, shown).toMatch(/^application\/json/);
  const document = JSON.parse(text) as unknown;
  expect(document !== null && typeof document === "object" && !Array.isArray(document), `a document that is not an object: ${shown}`).toBe(
    true,
  );
  expect(headers.get("etag"), shown).toMatch(/^"[0-9a-f]{32}"$/);
  const incomplete = headers.get("fanout-incomplete");
  if (incomplete !== null) expect(headers.get("cache-control"), `a partial answer that may be cached: ${shown}`).toBe("no-store");
}

// What the demo composites read, as `npm start` seeds it.
beforeEach(async () => {
  await env.KV.put("greeting", "hello from the fuzz");
  await env.KV.put("flags:web", JSON.stringify({ newCheckout: true, darkMode: false }));
  await env.KV.put("flags:beta", JSON.stringify({ newCheckout: true, darkMode: true }));
  await env.DB.batch([
    env.DB.prepare(
      "INSERT OR REPLACE INTO users (id, name, email) VALUES (1, 'Ada Lovelace', 'ada@example.com'), (2, 'Grace Hopper', 'grace@example.com')",
    ),
    env.DB.prepare(
      "INSERT OR REPLACE INTO orders (id, user_id, total_cents, created_at) VALUES (1, 1, 1999, '2026-11-01T10:00:00Z'), (2, 1, 4500, '2026-11-12T16:30:00Z'), (3, 2, 1250, '2026-11-20T08:15:00Z')",
    ),
  ]);
});

describe("GET /v1/c/* with any query string and header values (fuzz)", () => {
  it("answers a 200 document, a 304, a 4xx problem naming the field, or a 502/503/504 from the steps, and never hangs", async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<CompositeName>("home", "welcome"), queryString, headerValues, async (composite, query, headers) => {
        const answer = await withTimeout(send(composite, query, sendable(headers)), `GET /v1/c/${composite}${query}`);
        seen.set(answer.status, (seen.get(answer.status) ?? 0) + 1);
        checkAnswer(composite, answer);
      }),
      fuzzParameters(COMPOSITE_SHARE),
    );
    // The property saw both sides: documents and refusals.
    expect(seen.get(200) ?? 0, JSON.stringify([...seen])).toBeGreaterThan(0);
    expect(seen.get(400) ?? 0, JSON.stringify([...seen])).toBeGreaterThan(0);
  });
});
