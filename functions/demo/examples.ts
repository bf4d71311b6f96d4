import { createRoute, z } from "@hono/zod-openapi";
import { streamText } from "hono/streaming";
import { runAfterResponse } from "../../lib/async/after";
import { all } from "../../lib/async/combinators";
import { elapsedSince, sleep, withTimeout } from "../../lib/async/timers";
import { FanoutError } from "../../lib/base/errors";
import { fetchUpstream, readBodyLimited } from "../../lib/base/http";
import { problemResponses } from "../http/problem";
import { createRouter, integer, untypedResponse, waitUntilOf } from "../http/router";
import { markAsLiveStream } from "../http/streaming";

/**
 * The async-I/O lesson as working endpoints: a coroutine, gather, a done-callback and an aiohttp-style
 * fetch, each built from the same lib/ primitives the gateway uses. Part of the demo surface (they exist
 * only while DEMO_ENABLED is on); the callback (it writes KV) and the fetch (it reaches the upstreams)
 * need an API key, as functions/http/access.ts declares.
 */

const examples = createRouter();

examples.openapi(
  createRoute({
    method: "get",
    path: "/coroutine",
    operationId: "exampleCoroutine",
    tags: ["examples"],
    summary: "Streams Start, awaits a timer, streams End",
    request: { query: z.object({ ms: integer("ms", 0, 10_000).default(1000) }) },
    responses: {
      200: {
        description: "`Start` at once, `End` after the wait",
        content: { "text/plain": { schema: z.string().openapi({ example: "Start\nEnd\n" }) } },
      },
      ...problemResponses(400),
    },
  }),
  (c) => {
    const { ms } = c.req.valid("query");
    markAsLiveStream(c);
    return untypedResponse(
      streamText(c, async (out) => {
        await out.writeln("Start");
        await sleep(ms, { signal: c.req.raw.signal });
        await out.writeln("End");
      }),
    );
  },
);

const GatherResult = z.object({
  k: z.number(),
  ms: z.number(),
  concurrentMs: z.number().openapi({ description: "Measured wall time of the concurrent run" }),
  sequentialMs: z.number().openapi({ description: "What awaiting the waits one by one would take (k x ms)" }),
  speedup: z.number(),
});

examples.openapi(
  createRoute({
    method: "get",
    path: "/gather",
    operationId: "exampleGather",
    tags: ["examples"],
    summary: "Runs k timer waits of ms concurrently and reports the wall time",
    request: { query: z.object({ k: integer("k", 1, 100).default(10), ms: integer("ms", 0, 10_000).default(200) }) },
    responses: {
      200: { description: "Timing of the concurrent run", content: { "application/json": { schema: GatherResult } } },
      ...problemResponses(400),
    },
  }),
  async (c) => {
    const { k, ms } = c.req.valid("query");
    const started = Date.now();
    await all(
      Array.from({ length: k }, () => (signal: AbortSignal) => sleep(ms, { signal })),
      { signal: c.req.raw.signal },
    );
    const concurrentMs = elapsedSince(started);
    const sequentialMs = k * ms;
    const speedup = concurrentMs > 0 ? Math.round((sequentialMs / concurrentMs) * 10) / 10 : k;
    return c.json({ k, ms, concurrentMs, sequentialMs, speedup }, 200);
  },
);

const CALLBACK_PREFIX = "example:callback:";
const CALLBACK_TTL_SECONDS = 3600;

const CallbackRecord = z
  .object({
    id: z.string(),
    registeredAt: z.string(),
    ranAt: z.string(),
    waitedMs: z.number(),
    outcome: z.literal("ok"),
  })
  .openapi("CallbackRecord");

examples.openapi(
  createRoute({
    method: "get",
    path: "/callback",
    operationId: "exampleCallback",
    tags: ["examples"],
    summary: "Answers at once; a done-callback records its run in KV after the response",
    request: { query: z.object({ ms: integer("ms", 0, 20_000).default(100) }) },
    responses: {
      202: {
        description: "The callback is registered and will run after this response",
        content: { "application/json": { schema: z.object({ id: z.string(), registeredAt: z.string(), recordUrl: z.string() }) } },
      },
      ...problemResponses(400, 401),
    },
  }),
  (c) => {
    const { ms } = c.req.valid("query");
    const id = crypto.randomUUID();
    const registeredAt = new Date().toISOString();
    const kv = c.env.KV;
    runAfterResponse(
      async (signal) => {
        await sleep(ms, { signal });
        const record: z.infer<typeof CallbackRecord> = { id, registeredAt, ranAt: new Date().toISOString(), waitedMs: ms, outcome: "ok" };
        await kv.put(CALLBACK_PREFIX + id, JSON.stringify(record), { expirationTtl: CALLBACK_TTL_SECONDS });
      },
      { waitUntil: waitUntilOf(c), task: "examples.callback", requestId: c.var.requestId, logger: c.var.logger },
    );
    const recordUrl = new URL(`${c.req.path}/${id}`, c.req.url).href;
    return c.json({ id, registeredAt, recordUrl }, 202, { location: recordUrl });
  },
);

examples.openapi(
  createRoute({
    method: "get",
    path: "/callback/{id}",
    operationId: "exampleCallbackRecord",
    tags: ["examples"],
    summary: "The record the done-callback wrote, once it has run",
    request: { params: z.object({ id: z.uuid("id must be a UUID").openapi({ param: { name: "id", in: "path" } }) }) },
    responses: {
      200: { description: "The callback ran", content: { "application/json": { schema: CallbackRecord } } },
      ...problemResponses(400, 401, 404),
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const record = await c.env.KV.get<z.infer<typeof CallbackRecord>>(CALLBACK_PREFIX + id, "json");
    if (!record) throw new FanoutError("not_found", `no callback record ${id} (not run yet, expired, or never registered)`);
    return c.json(record, 200);
  },
);

const FETCH_EXAMPLE_MAX_BYTES = 1024 * 1024;

const FetchResult = z.object({
  url: z.string(),
  finalUrl: z.string(),
  status: z.number(),
  ok: z.boolean(),
  redirects: z.number(),
  contentType: z.string().nullable(),
  bytes: z.number(),
  text: z.string(),
  durationMs: z.number(),
});

examples.openapi(
  createRoute({
    method: "get",
    path: "/fetch",
    operationId: "exampleFetch",
    tags: ["examples"],
    summary: "An async GET of an allow-listed URL (the aiohttp example)",
    request: {
      query: z.object({
        url: z.string().min(1, "url is required").openapi({ example: "http://localhost:8787/v1/sim/delay/100" }),
        timeoutMs: integer("timeoutMs", 1, 30_000).optional(),
      }),
    },
    responses: {
      200: { description: "The upstream answered (any status)", content: { "application/json": { schema: FetchResult } } },
      ...problemResponses(400, 401, 403, 502, 504),
    },
  }),
  async (c) => {
    const { url, timeoutMs = c.var.config.DEFAULT_TIMEOUT_MS } = c.req.valid("query");
    const started = Date.now();
    const result = await withTimeout(
      async (signal) => {
        const request = { url, headers: { accept: "*/*", "user-agent": "fanout-example" } };
        const upstream = await fetchUpstream(request, { allowList: c.var.config.UPSTREAM_ALLOWLIST, signal });
        const body = await readBodyLimited(upstream.response, { maxBytes: FETCH_EXAMPLE_MAX_BYTES, signal });
        return { upstream, body };
      },
      { ms: timeoutMs, signal: c.req.raw.signal, label: "fetch timeout" },
    );
    const { upstream, body } = result;
    return c.json(
      {
        url,
        finalUrl: upstream.url.href,
        status: upstream.response.status,
        ok: upstream.response.ok,
        redirects: upstream.redirects,
        contentType: upstream.response.headers.get("content-type"),
        bytes: body.byteLength,
        text: new TextDecoder().decode(body),
        durationMs: elapsedSince(started),
      },
      200,
    );
  },
);

export default examples;
