import { createRoute, z } from "@hono/zod-openapi";
import { stream } from "hono/streaming";
import { parseRetryAfter } from "../../lib/async/retry";
import { sleep } from "../../lib/async/timers";
import { ATTEMPT_HEADER } from "../../lib/batch/in-process";
import { problemResponses } from "../http/problem";
import { createRouter, integer, untypedResponse } from "../http/router";
import { markAsLiveStream } from "../http/streaming";

/**
 * httpbin-style simulated upstreams driven by timers: the quickstart, the tests and the benchmarks
 * use them so nothing needs the internet. Public, and part of the demo surface (functions/http/access.ts):
 * they exist only while DEMO_ENABLED is on.
 */

const MAX_SIM_DELAY_MS = 30_000;
const MAX_SIM_BYTES = 10 * 1024 * 1024;
const MAX_DRIP_BYTES = 1024 * 1024;

const sim = createRouter();

const Args = z.record(z.string(), z.string()).openapi({ description: "The query parameters, echoed back" });

sim.openapi(
  createRoute({
    method: "get",
    path: "/delay/{ms}",
    operationId: "simDelay",
    tags: ["sim"],
    summary: "Answer after a timer of ms milliseconds",
    request: { params: z.object({ ms: integer("ms", 0, MAX_SIM_DELAY_MS).openapi({ param: { name: "ms", in: "path" }, example: 200 }) }) },
    responses: {
      200: {
        description: "Answered after the delay",
        content: { "application/json": { schema: z.object({ delayedMs: z.number(), args: Args }) } },
      },
      ...problemResponses(400),
    },
  }),
  async (c) => {
    const { ms } = c.req.valid("param");
    await sleep(ms, { signal: c.req.raw.signal });
    return c.json({ delayedMs: ms, args: c.req.query() }, 200);
  },
);

const RetryAfter = z
  .string()
  .refine((value) => parseRetryAfter(value) !== undefined, "retryAfter must be delta-seconds or an HTTP-date")
  .optional()
  .openapi({ description: "Sent back as the Retry-After header", example: "2" });

const BODYLESS = new Set([204, 205, 304]);

sim.openapi(
  createRoute({
    method: "get",
    path: "/status/{code}",
    operationId: "simStatus",
    tags: ["sim"],
    summary: "Answer with the given HTTP status",
    request: {
      params: z.object({ code: integer("code", 200, 599).openapi({ param: { name: "code", in: "path" }, example: 503 }) }),
      query: z.object({ retryAfter: RetryAfter }),
    },
    responses: {
      200: {
        description: "Any status from 200 to 599, as asked",
        content: { "application/json": { schema: z.object({ status: z.number() }) } },
      },
      ...problemResponses(400),
    },
  }),
  (c) => {
    const { code } = c.req.valid("param");
    const { retryAfter } = c.req.valid("query");
    const headers: Record<string, string> = retryAfter ? { "retry-after": retryAfter } : {};
    if (BODYLESS.has(code)) return untypedResponse(c.body(null, code as 204, headers));
    return c.json({ status: code }, code as 200, headers);
  },
);

sim.openapi(
  createRoute({
    method: "get",
    path: "/bytes/{n}",
    operationId: "simBytes",
    tags: ["sim"],
    summary: "A body of exactly n deterministic bytes",
    request: { params: z.object({ n: integer("n", 0, MAX_SIM_BYTES).openapi({ param: { name: "n", in: "path" }, example: 1024 }) }) },
    responses: {
      200: { description: "n bytes", content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } } },
      ...problemResponses(400),
    },
  }),
  (c) => {
    const { n } = c.req.valid("param");
    const body = new Uint8Array(n);
    for (let i = 0; i < n; i++) body[i] = 97 + (i % 26);
    return c.body(body, 200, { "content-type": "application/octet-stream", "content-length": String(n) });
  },
);

sim.openapi(
  createRoute({
    method: "get",
    path: "/drip",
    operationId: "simDrip",
    tags: ["sim"],
    summary: "Stream `bytes` bytes evenly over `durationMs`",
    request: {
      query: z.object({
        bytes: integer("bytes", 1, MAX_DRIP_BYTES).default(10),
        durationMs: integer("durationMs", 0, MAX_SIM_DELAY_MS).default(1000),
        chunks: integer("chunks", 1, 1000).optional().openapi({ description: "How many writes (default: min(bytes, 100))" }),
      }),
    },
    responses: {
      200: {
        description: "The bytes, written slowly",
        content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } },
      },
      ...problemResponses(400),
    },
  }),
  (c) => {
    const { bytes, durationMs } = c.req.valid("query");
    const chunks = Math.min(bytes, c.req.valid("query").chunks ?? 100);
    const interval = durationMs / chunks;
    c.header("content-type", "application/octet-stream");
    markAsLiveStream(c);
    return untypedResponse(
      stream(c, async (out) => {
        const signal = c.req.raw.signal;
        let written = 0;
        for (let i = 0; i < chunks && !out.aborted; i++) {
          const size = Math.floor((bytes * (i + 1)) / chunks) - written;
          await out.write(new Uint8Array(size).fill(42));
          written += size;
          if (i < chunks - 1) await sleep(interval, { signal }).catch(() => out.abort());
        }
      }),
    );
  },
);

/** The simulated catalogue: items 1 to SIM_ITEMS_KNOWN exist; any other id is unknown and left out of the answer. */
const SIM_ITEMS_KNOWN = 1000;
const MAX_SIM_ITEM_ID = 1_000_000_000;
/** The most ids one /v1/sim/items call may name: real bulk APIs cap theirs, and a bulk `batch.size` must respect it. */
export const MAX_SIM_ITEMS_PER_CALL = 100;

const SimItem = z.object({ id: z.number().int(), name: z.string() }).openapi("SimItem");

/** `?id=2&id=3`: Hono's validator gives one value as a string and a repeated one as an array; both become the array. */
const ItemIds = z
  .preprocess(
    (value) => (value === undefined ? [] : Array.isArray(value) ? value : [value]),
    z
      .array(integer("id", 1, MAX_SIM_ITEM_ID))
      .min(1, "name at least one id: ?id=2&id=3")
      .max(MAX_SIM_ITEMS_PER_CALL, `at most ${MAX_SIM_ITEMS_PER_CALL} ids per call`),
  )
  .openapi({
    param: { name: "id", in: "query", style: "form", explode: true },
    description: `The item ids, the parameter repeated (1 to ${MAX_SIM_ITEMS_PER_CALL}); items 1 to ${SIM_ITEMS_KNOWN} exist`,
    example: [2, 3, 5],
  });

sim.openapi(
  createRoute({
    method: "get",
    path: "/items",
    operationId: "simItems",
    tags: ["sim"],
    summary: "Many items in one call (a bulk upstream)",
    description:
      `The items named by the repeated \`id\` parameter, in ascending id order, each once: what a bulk forEach (\`batch: { param: "id", matchBy: "id" }\`) ` +
      `calls. An id that does not exist (above ${SIM_ITEMS_KNOWN}) is simply absent, so its item is not_found.`,
    request: { query: z.object({ id: ItemIds }) },
    responses: {
      200: { description: "The items that exist", content: { "application/json": { schema: z.array(SimItem) } } },
      ...problemResponses(400),
    },
  }),
  (c) => {
    const ids = [...new Set(c.req.valid("query").id)].filter((id) => id <= SIM_ITEMS_KNOWN).sort((a, b) => a - b);
    return c.json(
      ids.map((id) => ({ id, name: `Item ${id}` })),
      200,
    );
  },
);

/** FNV-1a of `seed:attempt` scaled to [0, 1): the same seed and attempt always give the same answer. */
export function flakyRoll(seed: string, attempt: number): number {
  let hash = 0x811c9dc5;
  for (const char of `${seed}:${attempt}`) {
    hash ^= char.codePointAt(0)!;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash / 2 ** 32;
}

sim.openapi(
  createRoute({
    method: "get",
    path: "/flaky",
    operationId: "simFlaky",
    tags: ["sim"],
    summary: "Fail deterministically for a seed and attempt",
    description: `Fails with \`status\` when flakyRoll(seed, attempt) < failRate; the attempt number is read from the ${ATTEMPT_HEADER} header (default 1).`,
    request: {
      query: z.object({
        failRate: z.coerce.number().min(0, "failRate must be >= 0").max(1, "failRate must be <= 1").default(0.5),
        seed: z.string().max(200).default("fanout"),
        status: integer("status", 400, 599).default(503),
        retryAfter: RetryAfter,
      }),
      headers: z.object({ [ATTEMPT_HEADER]: integer(ATTEMPT_HEADER, 1, 1000).optional() }),
    },
    responses: {
      200: {
        description: "This attempt succeeded",
        content: { "application/json": { schema: z.object({ ok: z.boolean(), attempt: z.number(), seed: z.string() }) } },
      },
      ...problemResponses(400),
    },
  }),
  (c) => {
    const { failRate, seed, status, retryAfter } = c.req.valid("query");
    const attempt = c.req.valid("header")[ATTEMPT_HEADER] ?? 1;
    const fails = flakyRoll(seed, attempt) < failRate;
    if (!fails) return c.json({ ok: true, attempt, seed }, 200);
    return c.json({ ok: false, attempt, seed }, status as 200, retryAfter ? { "retry-after": retryAfter } : {});
  },
);

export default sim;
