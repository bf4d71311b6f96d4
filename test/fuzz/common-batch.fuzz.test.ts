import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseCommonBatch } from "../../lib/batch/common-batch";
import { BatchRequest } from "../../lib/batch/schema";
import { awkwardNumber, hostileString } from "./arbitraries";
import { fuzzParameters } from "./fuzz";

/**
 * The hand-written check of the common batch (lib/batch/common-batch.ts) against the schema it
 * stands in for: whatever the body, when the fast check answers it answers exactly what zod's
 * BatchRequest gives, and it never accepts what zod refuses. Bodies are common batches with values
 * near every boundary and, now and then, a field of the wrong type or one the fast check leaves to zod.
 */

const near = <T>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: invalid });
const absentOr = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined, freq: 2 });
const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), hostileString, awkwardNumber);

const id = near(fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), fc.oneof(fc.constantFrom("", "a".repeat(65), "a b", "é", "{{x}}"), anyValue));
const url = near(
  fc.oneof(
    fc.webUrl(),
    fc.constantFrom("/v1/sim/delay/1", "HTTPS://API.EXAMPLE/x", "{{a.body.url}}", "http://x"),
    fc.string().map((rest) => `https://api.example/${rest}`),
  ),
  fc.oneof(fc.constantFrom("", "ftp://x", "/v1/other", "x".repeat(4097), `https://${"x".repeat(4090)}`), anyValue),
);
const method = near(
  fc.constantFrom("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"),
  fc.oneof(fc.constantFrom("get", "TRACE", ""), anyValue),
);
const ms = near(fc.integer({ min: 0, max: 300_000 }), fc.oneof(fc.constantFrom(-1, 300_001, 1.5, Number.MAX_SAFE_INTEGER + 2), anyValue));
const positive = near(fc.integer({ min: 1, max: 1_000_000 }), fc.oneof(fc.constantFrom(0, -3, 2.5, 2 ** 60), anyValue));

/** An extra field: one the schema knows (left to zod) or one it refuses. */
const extra = fc.oneof(
  { weight: 10, arbitrary: fc.constant(undefined) },
  {
    weight: 1,
    arbitrary: fc.record({
      key: fc.constantFrom("headers", "retry", "kv", "wait", "forEach", "unknown", "__proto__", "when", "batch"),
      // A bulk option (valid or not) now and then: a step with one is always zod's to check.
      value: fc.oneof(
        anyValue,
        fc.constant({ size: 25, param: "id", matchBy: "id" }),
        fc.constant({ size: 0, bodyPath: "ids", matchBy: "a..b" }),
      ),
    }),
  },
);

const redirects = near(fc.integer({ min: 0, max: 5 }), fc.oneof(fc.constantFrom(-1, 6, 2.5), anyValue));
const http = fc
  .record({ url, method: absentOr(method), maxRedirects: absentOr(redirects), extra })
  .map(({ url, method, maxRedirects, extra }) => ({
    url,
    ...(method === undefined ? {} : { method }),
    ...(maxRedirects === undefined ? {} : { maxRedirects }),
    ...(extra ? { [extra.key]: extra.value } : {}),
  }));

const step = fc
  .record({
    id,
    http: near(http, anyValue),
    dependsOn: absentOr(near(fc.array(id, { maxLength: 4 }), fc.oneof(fc.constant(Array(101).fill("a")), anyValue))),
    expectedMs: absentOr(ms),
    extra,
  })
  .map(({ extra, ...fields }) => ({
    ...Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)),
    ...(extra ? { [extra.key]: extra.value } : {}),
  }));

const batch = fc
  .record({
    steps: near(fc.array(step, { minLength: 0, maxLength: 6 }), anyValue),
    mode: absentOr(near(fc.constantFrom("allSettled", "all", "any", "race"), fc.oneof(fc.constant("ALL"), anyValue))),
    concurrency: absentOr(positive),
    deadlineMs: absentOr(positive),
    extra,
  })
  .map(({ extra, ...fields }) => ({
    ...Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)),
    ...(extra ? { [extra.key]: extra.value } : {}),
  }));

// Through JSON, as a request body arrives (a "__proto__" key becomes an own property, as JSON.parse makes it).
const asReceived = (value: unknown) => JSON.parse(JSON.stringify(value));

describe("the common batch's hand-written check", () => {
  it("answers what zod answers, or leaves the body to zod; never accepts what zod refuses", () => {
    let taken = 0;
    fc.assert(
      fc.property(batch, (value) => {
        const body = asReceived(value);
        const fast = parseCommonBatch(body);
        if (fast === undefined) return;
        taken++;
        const slow = BatchRequest.safeParse(body);
        expect(slow.success).toBe(true);
        expect(fast).toEqual(slow.data);
      }),
      fuzzParameters(),
    );
    // The property says something only when the fast check answers often enough.
    expect(taken).toBeGreaterThan(fuzzParameters().numRuns! / 20);
  });

  it("takes the common batch itself: every valid GET batch of ids and URLs is checked without zod", () => {
    const common = fc.array(fc.record({ id: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), http: fc.record({ url: fc.webUrl() }) }), {
      minLength: 1,
      maxLength: 20,
    });
    fc.assert(
      fc.property(common, (steps) => {
        const body = asReceived({ steps });
        expect(parseCommonBatch(body)).toEqual(BatchRequest.parse(body));
      }),
      fuzzParameters(),
    );
  });
});
