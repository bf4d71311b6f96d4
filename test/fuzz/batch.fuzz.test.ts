import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../functions/index";
import { API_KEY, UNLISTED, UPSTREAM } from "../functions/batch-helpers";
import { BASE } from "../functions/helpers";
import { awkwardNumber, hostileString, nestedJson, requestJsonish } from "./arbitraries";
import { fuzzParameters } from "./fuzz";

/**
 * Whatever a client sends to POST /v1/batch, the answer is a 4xx problem, a 2xx, or a 502 that
 * carries the batch result; never a 500 or another 5xx, and no step (or forEach item) ever reports
 * `internal`. Bodies are random JSON, random text, and batches built from the real schema whose
 * fields are then replaced by hostile values. Cases stay cheap: waits of 0 ms, in-process /v1/sim/
 * URLs or the loopback upstream, short deadlines.
 */

/** The share of FUZZ_RUNS this property runs: each case is a whole HTTP request through the worker. */
const BATCH_SHARE = 1;

// ---- Arbitraries of the request schema -----------------------------------------------------------
// Batches are built valid by construction (ids unique, references only to earlier steps), with hostile
// values wherever the schema takes free text; then `mutate` replaces or deletes a few random nodes.

const IDS = ["a", "b", "c", "d", "e", "f"];

/** JSON in a request: mostly ordinary, sometimes deeper than MAX_JSON_DEPTH, huge numbers, hostile strings. */
const jsonish = fc.oneof({ weight: 12, arbitrary: fc.jsonValue({ maxDepth: 3 }) }, { weight: 1, arbitrary: requestJsonish });

/** Mostly what the schema wants; rarely something it must refuse. */
function field<T>(valid: fc.Arbitrary<T>, invalid?: fc.Arbitrary<unknown>): fc.Arbitrary<T | unknown> {
  return fc.oneof({ weight: 150, arbitrary: valid }, { weight: 1, arbitrary: invalid ?? fc.oneof(jsonish, hostileString, awkwardNumber) });
}

/** Optional: present in one case out of `oneIn`. */
function maybe<T>(arbitrary: fc.Arbitrary<T>, oneIn = 3): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
}

/** References a step may hold: to earlier steps (valid), to forEach's item/index, and broken ones. */
function referenceTo(earlier: readonly string[], inForEach: boolean): fc.Arbitrary<string> {
  const valid: string[] = [];
  for (const id of earlier)
    valid.push(
      `{{${id}.body}}`,
      `{{${id}.body.value}}`,
      `{{${id}.status}}`,
      `{{${id}.headers.content-type}}`,
      `{{${id}.body[*]}}`,
      `{{${id}.body[0]}}`,
      `{{${id}.body.items[*].id}}`,
    );
  if (inForEach) valid.push("{{item}}", "{{index}}", "{{item.id}}", "{{item[0]}}");
  const broken = ["{{a..b}}", "{{[}}", "{{zz.body}}", "{{a.nope}}", "{{item}}"];
  return valid.length > 0
    ? fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...valid) }, { weight: 1, arbitrary: fc.constantFrom(...broken) })
    : fc.constantFrom(...broken);
}

/** Free text that may carry references. */
function text(refs: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 8 }) },
    { weight: 2, arbitrary: refs },
    { weight: 1, arbitrary: hostileString },
    { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 4 }), refs, hostileString).map((parts) => parts.join("")) },
  );
}

function urlOf(refs: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom(
        "/v1/sim/status/200",
        "/v1/sim/status/503",
        "/v1/sim/status/404?retryAfter=1",
        "/v1/sim/delay/0",
        "/v1/sim/bytes/16",
        "/v1/sim/flaky?failRate=0.5",
        "/v1/sim/drip?bytes=10&durationMs=0",
        "/v1/sim/nope",
        "/v1/sim/status/200?x=%00%0d%0a",
      ),
    },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        `${UPSTREAM}/echo`,
        `${UPSTREAM}/status/500`,
        `${UPSTREAM}/status/503?retryAfter=0`,
        `${UPSTREAM}/bytes/100`,
        `${UPSTREAM}/cookie`,
        `${UPSTREAM}/redirect?to=${encodeURIComponent(`${UNLISTED}/echo`)}`,
        `${UPSTREAM}/redirect?to=/echo`,
        `${UPSTREAM}/redirect?to=javascript:alert(1)`,
        `${UPSTREAM}/nope`,
      ),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.constantFrom("/v1/sim/status/", "/v1/sim/delay/", `${UPSTREAM}/echo?x=`, `${UPSTREAM}/`, ""), refs)
        .map(([base, ref]) => base + ref),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        `${UNLISTED}/echo`,
        "http://127.0.0.1:9/",
        "http://169.254.169.254/latest/meta-data",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://127.1/",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "data:text/plain,hi",
        "ftp://x/",
        "//evil.com/",
        "/v1/batch",
        "/v1/sim/../batch",
        "/v1/sim/%2e%2e/batch",
        "http://[::1]/",
        "http://fanout.internal/v1/jobs",
        "http://fanout.internal/v1/sim/status/200",
        "HTTP://127.0.0.1:9/",
      ),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom("/v1/sim/status/200?x=", `${UPSTREAM}/echo?x=`, "/v1/sim/"), hostileString)
        .map(([base, junk]) => base + junk),
    },
  );
}

function httpSpec(refs: fc.Arbitrary<string>) {
  const headerName = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom("x-a", "accept", "content-type", "authorization", "idempotency-key", "cookie", "x-b") },
    { weight: 1, arbitrary: fc.constantFrom("host", "x-fanout-x", "traceparent", "bad name", "") },
  );
  const headerValue = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.oneof(
        fc.constantFrom("1", "application/json", "é", "x y"),
        refs,
        refs.map((ref) => `x${ref}`),
      ),
    },
    { weight: 1, arbitrary: hostileString },
  );
  return (
    fc
      .record(
        {
          url: field(urlOf(refs)),
          method: field(
            fc.constantFrom("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"),
            fc.constantFrom("get", "TRACE", "CONNECT"),
          ),
          headers: field(fc.dictionary(headerName, headerValue, { maxKeys: 3 })),
          body: field(fc.oneof(jsonish, refs, text(refs))),
          timeoutMs: field(fc.integer({ min: 1, max: 200 })),
          retry: field(
            fc.record(
              {
                attempts: fc.integer({ min: 1, max: 5 }),
                baseDelayMs: maybe(fc.integer({ min: 0, max: 5 })),
                maxDelayMs: maybe(fc.integer({ min: 0, max: 10 })),
              },
              { requiredKeys: ["attempts"] },
            ),
          ),
          hedge: field(fc.record({ afterMs: fc.integer({ min: 1, max: 20 }) })),
          pick: field(
            fc.array(
              fc.oneof(
                {
                  weight: 6,
                  arbitrary: fc.constantFrom(
                    "value",
                    "a.b",
                    "items[0].id",
                    "items[*].id",
                    "[0]",
                    "__proto__",
                    "constructor.name",
                    "status",
                  ),
                },
                { weight: 1, arbitrary: fc.constantFrom("a..b", "[", "", "a.") },
                { weight: 1, arbitrary: hostileString },
              ),
              { maxLength: 3 },
            ),
          ),
          idempotencyKey: field(text(refs)),
          maxRedirects: field(fc.integer({ min: 0, max: 5 })),
        },
        { requiredKeys: ["url"] },
      )
      // GET/HEAD with a body, and a hedge on another method, are refused; keep them, but not in most cases.
      .chain((spec) =>
        fc.nat({ max: 9 }).map((coin) => {
          if (coin > 0 && spec.body !== undefined && (spec.method === undefined || spec.method === "GET" || spec.method === "HEAD"))
            spec.method = "POST";
          if (coin > 0 && spec.hedge !== undefined && spec.method !== undefined && spec.method !== "GET" && spec.method !== "HEAD")
            delete spec.hedge;
          return spec;
        }),
      )
  );
}

function storageKey(refs: fc.Arbitrary<string>, prefix: string) {
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom(
        `${prefix}a`,
        `${prefix}json`,
        `${prefix}deep`,
        `${prefix}odd`,
        `${prefix}missing`,
        `${prefix}deep.json`,
        `${prefix}a.txt`,
      ),
    },
    { weight: 2, arbitrary: refs.map((ref) => prefix + ref) },
    { weight: 1, arbitrary: fc.constantFrom("flags:beta", "avatars/1.png", "secret:x", "secret/x") },
    { weight: 1, arbitrary: text(refs) },
  );
}

function kindsOf(refs: fc.Arbitrary<string>) {
  return {
    http: httpSpec(refs),
    kv: fc.oneof(
      fc.record({ key: field(storageKey(refs, "test:")), type: field(fc.constantFrom("text", "json")) }, { requiredKeys: ["key"] }),
      fc.record(
        { keys: field(fc.array(storageKey(refs, "test:"), { minLength: 1, maxLength: 3 })), type: field(fc.constantFrom("text", "json")) },
        { requiredKeys: ["keys"] },
      ),
    ),
    r2: fc.record(
      {
        key: field(storageKey(refs, "test/")),
        head: field(fc.boolean()),
        range: field(
          fc.record(
            {
              offset: fc.oneof(fc.nat({ max: 100 }), fc.constantFrom(2 ** 53 - 1, 1e15)),
              length: maybe(fc.oneof(fc.integer({ min: 1, max: 100 }), fc.constantFrom(2 ** 53 - 1))),
            },
            { requiredKeys: ["offset"] },
          ),
        ),
        as: field(fc.constantFrom("text", "json", "base64", "metadata")),
      },
      { requiredKeys: ["key"] },
    ),
    d1: fc.record(
      {
        query: field(fc.constantFrom("userById", "ordersByUser"), fc.constantFrom("nope", "drop table")),
        // Both named queries take one parameter; another count is refused up front.
        params: field(
          fc.oneof(
            { weight: 6, arbitrary: fc.tuple(fc.oneof(fc.constantFrom(1, "1", null, true), refs, awkwardNumber, hostileString)) },
            { weight: 1, arbitrary: fc.constantFrom([], [1, 2]) },
          ),
        ),
      },
      { requiredKeys: ["query"] },
    ),
    cache: fc.record({ url: field(urlOf(refs)), as: field(fc.constantFrom("text", "json")) }, { requiredKeys: ["url"] }),
    wait: fc.record({
      ms: field(
        fc.oneof(
          { weight: 12, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: refs },
          { weight: 1, arbitrary: fc.constantFrom(1, -1, 1.5, 300_001) },
        ),
      ),
    }),
  };
}

type Kind = keyof ReturnType<typeof kindsOf>;
const KINDS: Kind[] = ["http", "kv", "r2", "d1", "cache", "wait"];

/** A step's `when`: conditions on earlier steps (valid), a composite's values or forEach's item (refused here), broken ones. */
function conditionFor(earlier: readonly string[]): fc.Arbitrary<unknown> {
  const onEarlier =
    earlier.length > 0
      ? fc
          .tuple(fc.constantFrom(...earlier), fc.constantFrom(".status == 200", ".body.x != null", ".status in [200, 404]"), fc.boolean())
          .map(([id, test, negate]) => `${negate ? "not " : ""}${id}${test}`)
      : fc.constantFrom("true", "false");
  return fc.oneof(
    { weight: 6, arbitrary: onEarlier },
    {
      weight: 1,
      arbitrary: fc.constantFrom('query.include == "x"', "item.id == 1", "zz.status == 1", "(", "a.status = 1", "x".repeat(1001), ""),
    },
    { weight: 1, arbitrary: fc.oneof(hostileString, jsonish) },
  );
}

/** Step `index` of a batch: its id, one kind, and maybe dependsOn / forEach / when over earlier steps. */
function stepAt(index: number): fc.Arbitrary<Record<string, unknown>> {
  const earlier = IDS.slice(0, index);
  return fc
    .record({
      id: fc.oneof(
        { weight: 30, arbitrary: fc.constant(IDS[index]!) },
        { weight: 1, arbitrary: fc.constantFrom("item", "index", "", "x".repeat(65), "a b", "é", "a") },
      ),
      kind: fc.constantFrom(...KINDS),
      extraKind: maybe(fc.constantFrom(...KINDS), 30),
      dependsOn:
        earlier.length > 0
          ? maybe(
              fc.uniqueArray(
                fc.oneof(
                  { weight: 10, arbitrary: fc.constantFrom(...earlier) },
                  { weight: 1, arbitrary: fc.constantFrom("zz", IDS[index]!) },
                ),
                { maxLength: 3 },
              ),
            )
          : maybe(fc.constantFrom(["zz"], [IDS[index]!]), 30),
      forEach: maybe(
        fc.oneof(
          {
            weight: 4,
            arbitrary: fc.array(fc.oneof({ weight: 4, arbitrary: fc.jsonValue({ maxDepth: 2 }) }, { weight: 1, arbitrary: jsonish }), {
              maxLength: 4,
            }),
          },
          { weight: earlier.length > 0 ? 3 : 0, arbitrary: referenceTo(earlier, false) },
          { weight: 1, arbitrary: fc.integer({ min: 90, max: 1_100 }).map((length) => Array.from({ length }, (_, item) => item)) },
          { weight: 1, arbitrary: fc.oneof(jsonish, fc.constantFrom("x", "", "{{item}}")) },
        ),
        4,
      ),
      unknown: maybe(fc.tuple(fc.string({ maxLength: 6 }), jsonish), 40),
      when: maybe(conditionFor(earlier), 5),
    })
    .chain(({ id, kind, extraKind, dependsOn, forEach, unknown, when }) => {
      const refs = referenceTo(earlier, forEach !== undefined);
      const kinds = kindsOf(refs) as Record<Kind, fc.Arbitrary<unknown>>;
      return fc.tuple(field(kinds[kind]), extraKind ? kinds[extraKind] : fc.constant(undefined)).map(([spec, extra]) => {
        const out: Record<string, unknown> = { id, [kind]: spec };
        if (extraKind && extraKind !== kind) out[extraKind] = extra;
        if (dependsOn !== undefined) out.dependsOn = dependsOn;
        if (forEach !== undefined) out.forEach = forEach;
        if (when !== undefined) out.when = when;
        if (unknown) out[unknown[0]] = unknown[1];
        return out;
      });
    });
}

const steps = fc
  .integer({ min: 1, max: IDS.length })
  .chain((count) => fc.tuple(...Array.from({ length: count }, (_, index) => stepAt(index))));

// Absent keys are undefined, which JSON.stringify leaves out.
const batch = fc.record({
  steps: field(steps, fc.constantFrom([], {}, null, "steps")),
  mode: maybe(field(fc.constantFrom("allSettled", "all", "any", "race"), fc.constantFrom("first", "ALL", 1)), 2),
  concurrency: maybe(field(fc.integer({ min: 1, max: 8 }), fc.constantFrom(0, 51, 1e9, 1.5, -1)), 2),
  deadlineMs: maybe(field(fc.integer({ min: 1, max: 300 }), fc.constantFrom(30_001, 0, 1e308)), 2),
  // Only callbacks that must be refused: an accepted one would start a job, which is not this property's subject.
  callback: maybe(
    fc.constantFrom(
      { url: "http://169.254.169.254/" },
      { url: "javascript:alert(1)" },
      { url: "not a url" },
      { url: `${UNLISTED}/webhook/fuzz`, secret: "whsec_bad" },
    ),
    30,
  ),
});

/** Replaces or deletes a few nodes of a batch, chosen by position in a walk of the document. */
function mutate(document: unknown, mutations: ReadonlyArray<{ at: number; replacement: unknown; remove: boolean }>): unknown {
  const root = { value: structuredClone(document) };
  for (const { at, replacement, remove } of mutations) {
    const slots: Array<[Record<string, unknown> | unknown[], string | number]> = [];
    const stack: unknown[] = [root];
    while (stack.length > 0 && slots.length < 500) {
      const node = stack.pop();
      if (!node || typeof node !== "object") continue;
      for (const [key, child] of Object.entries(node)) {
        slots.push([node as Record<string, unknown>, Array.isArray(node) ? Number(key) : key]);
        stack.push(child);
      }
    }
    const [parent, key] = slots[at % slots.length]!;
    if (remove && !Array.isArray(parent) && parent !== root) delete (parent as Record<string, unknown>)[key as string];
    else (parent as Record<string, unknown>)[key as string] = replacement;
  }
  return root.value;
}

const mutatedBatch = fc
  .tuple(
    batch,
    fc.oneof(
      { weight: 4, arbitrary: fc.constant([]) },
      {
        weight: 1,
        arbitrary: fc.array(
          fc.record({
            at: fc.nat(),
            replacement: fc.oneof(jsonish, hostileString, awkwardNumber, fc.constantFrom("{{a.body}}", "{{item}}", null, [], {})),
            remove: fc.boolean(),
          }),
          { minLength: 1, maxLength: 2 },
        ),
      },
    ),
  )
  .map(([value, mutations]) => mutate(value, mutations));

/** The text of a request body: mostly a batch, sometimes any JSON, text, or a deep or huge document. */
const requestBody: fc.Arbitrary<string> = fc.oneof(
  { weight: 30, arbitrary: mutatedBatch.map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.json() },
  { weight: 1, arbitrary: fc.anything().map((value) => JSON.stringify(value) ?? "null") },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 60 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 100, max: 100_000 }), fc.constantFrom("array", "object") as fc.Arbitrary<"array" | "object">)
      .map(
        ([depth, kind]) => `{"steps":[{"id":"a","http":{"url":"/v1/sim/status/200","method":"POST","body":${nestedJson(depth, kind)}}}]}`,
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 100, max: 100_000 }), fc.constantFrom("array", "object") as fc.Arbitrary<"array" | "object">)
      .map(([depth, kind]) => `{"steps":[{"id":"a","wait":{"ms":0},"forEach":${nestedJson(depth, kind)}}]}`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{"steps":[{"id":"a","wait":{"ms":1e999}}]}',
      '{"steps":[{"id":"a","wait":{"ms":-0}}]}',
      '{"concurrency":123456789012345678901234567890,"steps":[{"id":"a","wait":{"ms":0}}]}',
      '{"steps":[{"id":"a","wait":{"ms":0}}],"steps":[]}',
      '{"__proto__":{"steps":[]},"steps":[{"id":"a","wait":{"ms":0}}]}',
      "\uFEFF{}",
      '{"steps":[{"id":"a","wait":{"ms":0}}]} trailing',
    ),
  },
);

const requestHeaders = fc.oneof(
  { weight: 8, arbitrary: fc.constant<Record<string, string>>({}) },
  { weight: 2, arbitrary: fc.constant<Record<string, string>>({ accept: "application/x-ndjson" }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Record<string, string>>(
      { "content-type": "text/plain" },
      { "content-type": "application/json; charset=latin1" },
      { traceparent: "00-zz-zz-01" },
      { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
    ),
  },
);

// ---- What every answer must look like ----------------------------------------------------------

interface Answer {
  status: number;
  contentType: string | null;
  text: string;
}

/** Each step result (and forEach item) found in a batch result, as [where, error code]. */
function stepErrors(results: unknown): Array<[string, string | undefined]> {
  const found: Array<[string, string | undefined]> = [];
  for (const [id, result] of Object.entries(
    (results ?? {}) as Record<string, { error?: { code?: string }; items?: Array<{ error?: { code?: string } }> }>,
  )) {
    found.push([id, result?.error?.code]);
    (result?.items ?? []).forEach((item, index) => {
      found.push([`${id}.items[${index}]`, item?.error?.code]);
    });
  }
  return found;
}

function checkAnswer(answer: Answer, ndjson: boolean): void {
  const { status, contentType, text } = answer;
  const shown = `${status} ${contentType}: ${text.slice(0, 600)}`;
  if (status >= 500) {
    expect(status, `a 5xx other than 502: ${shown}`).toBe(502);
    expect(contentType, shown).toMatch(/^application\/json/);
    expect(JSON.parse(text), `a 502 without a batch result: ${shown}`).toHaveProperty("results");
  }
  if (status >= 400 && status < 500) {
    expect(contentType, `a 4xx that is not a problem: ${shown}`).toBe("application/problem+json");
    expect((JSON.parse(text) as { code: string }).code, shown).not.toBe("internal");
    return;
  }
  if (status === 200 && ndjson && contentType?.startsWith("application/x-ndjson")) {
    const lines = text
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const line of lines) {
      const code = (line.error as { code?: string } | undefined)?.code;
      expect(code, `an NDJSON line reports internal: ${JSON.stringify(line).slice(0, 600)}`).not.toBe("internal");
      for (const [where, itemCode] of stepErrors({ [String(line.id)]: line }))
        expect(itemCode, `${where} reports internal: ${shown}`).not.toBe("internal");
    }
    expect(lines.at(-1), `the stream ends without its summary: ${shown}`).toHaveProperty("counts");
    return;
  }
  if (status === 200 || status === 502) {
    const body = JSON.parse(text) as { results?: unknown };
    for (const [where, code] of stepErrors(body.results)) expect(code, `${where} reports internal: ${shown}`).not.toBe("internal");
  }
}

/**
 * Calls the worker's fetch handler directly, each request with its own execution context. Through
 * `exports.default.fetch`, calls slow down as one test makes more of them (250 two-step batches took
 * 10 s, the fifth 250 took 248 s); this way they stay flat (about 2-5 ms each), so the run measures
 * fanout, not the harness.
 */
async function send(body: string, headers: Record<string, string>): Promise<Answer> {
  const request = new Request(`${BASE}/v1/batch`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json", ...headers },
    body,
  });
  const res = (await worker.fetch(request, env, createExecutionContext())) as Response;
  return { status: res.status, contentType: res.headers.get("content-type"), text: new TextDecoder().decode(await res.arrayBuffer()) };
}

// Storage the steps may read: ordinary values and hostile ones (JSON nested far deeper than any client may send,
// strings that are not valid UTF-16).
beforeEach(async () => {
  await env.KV.put("test:a", "hello");
  await env.KV.put("test:json", JSON.stringify({ value: 0, items: [{ id: 1 }, { id: 2 }] }));
  await env.KV.put("test:deep", nestedJson(20_000, "array"));
  // Valid JSON whose string is a lone surrogate: fine as JSON, not encodable as UTF-8 (e.g. into a URL).
  await env.KV.put("test:odd", '{"value":"\\ud800","items":[{"id":"\\udfff"}]}');
  await env.BUCKET.put("test/odd", '{"value":"\\ud800"}');
  await env.BUCKET.put("test/a.txt", "hello");
  await env.BUCKET.put("test/deep.json", nestedJson(20_000, "object"));
});

describe("POST /v1/batch with any body (fuzz)", () => {
  it("answers a 4xx problem, a 2xx, or a 502 with the batch result, and no step reports internal", async () => {
    await fc.assert(
      fc.asyncProperty(requestBody, requestHeaders, async (body, headers) => {
        checkAnswer(await send(body, headers), headers.accept === "application/x-ndjson");
      }),
      fuzzParameters(BATCH_SHARE),
    );
  });

  it("a step reading hostile storage (JSON far deeper than a client may send, lone surrogates) still answers with a result", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Record<string, unknown>>(
          { kv: { key: "test:deep", type: "json" } },
          { r2: { key: "test/deep.json", as: "json" } },
          { kv: { key: "test:odd", type: "json" } },
          { r2: { key: "test/odd", as: "json" } },
        ),
        fc.constantFrom(
          undefined,
          "/v1/sim/status/200?x={{s.body}}",
          "/v1/sim/status/200?x={{s.body.value}}",
          "{{s.body}}",
          `${UPSTREAM}/echo?x={{s.body.value}}`,
        ),
        fc.boolean(),
        async (read, urlUsingIt, ndjson) => {
          const steps: unknown[] = [{ id: "s", ...read }];
          if (urlUsingIt) steps.push({ id: "t", http: { url: urlUsingIt } });
          const headers: Record<string, string> = ndjson ? { accept: "application/x-ndjson" } : {};
          checkAnswer(await send(JSON.stringify({ steps, deadlineMs: 2_000 }), headers), ndjson);
        },
      ),
      fuzzParameters(0.05),
    );
  });
});
