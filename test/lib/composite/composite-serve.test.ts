import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../lib/base/config";
import { createLogger, type Logger } from "../../../lib/base/log";
import { batchBindings } from "../../../lib/batch/service";
import type { CompositeDefinition } from "../../../lib/composite/definition";
import { planComposite, serveComposite } from "../../../lib/composite/serve";

/** serveComposite's promises about the cache binding: one that fails never fails the request. */

const config = parseConfig({ DEMO_ENABLED: "false", BREAKER_ENABLED: "false" });

const definition: CompositeDefinition = {
  name: "plain",
  path: "plain",
  auth: "none",
  demo: false,
  params: {},
  headers: [],
  steps: [{ id: "w", wait: { ms: 1 }, required: true }],
  mode: "allSettled",
  cache: { ttlSeconds: 60, staleWhileRevalidateSeconds: 0, vary: [], perApiKey: false },
};

function recordingLogger(): Logger & { lines: Array<{ level: string; message: string }> } {
  const lines: Array<{ level: string; message: string }> = [];
  const base = createLogger("error");
  return { ...base, lines, log: (level: string, message: string) => void lines.push({ level, message }) } as never;
}

function brokenCache(failing: "match" | "put"): Cache {
  return {
    match: async (key: RequestInfo) => (failing === "match" ? Promise.reject(new Error("cache down")) : caches.default.match(key)),
    put: async () => {
      throw new Error("cache down");
    },
    delete: async () => false,
  } as unknown as Cache;
}

async function serveWith(cache: Cache) {
  const logger = recordingLogger();
  const afterResponse: Array<Promise<unknown>> = [];
  const answer = await serveComposite(definition, {
    plan: planComposite(definition, config),
    inputs: { params: {}, query: {}, headers: {} },
    host: { bindings: batchBindings(env), config, serveInProcess: () => new Response(null, { status: 404 }) },
    cache: { cache, key: `http://fanout.test/__fanout-cache/${crypto.randomUUID()}`, policy: definition.cache! },
    waitUntil: (promise) => void afterResponse.push(promise),
    logger,
    requestId: "test",
  });
  await Promise.all(afterResponse);
  return { answer, logger };
}

describe("serveComposite with a failing cache", () => {
  it("a cache read that throws is logged and the composite runs uncached", async () => {
    const { answer, logger } = await serveWith(brokenCache("match"));
    expect(JSON.parse(answer.body)).toEqual({ w: { waitedMs: 1 } });
    expect(logger.lines).toContainEqual({ level: "warn", message: "composite cache read failed" });
  });

  it("a cache write that throws after the response is logged, never thrown", async () => {
    const { answer, logger } = await serveWith(brokenCache("put"));
    expect(answer.cacheStatus).toBe("fanout; fwd=uri-miss; stored");
    expect(logger.lines).toContainEqual({ level: "error", message: "post-response task failed" });
  });
});
