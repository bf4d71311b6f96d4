import { runInNewContext } from "node:vm";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { type WaterfallKit, waterfallKit } from "../../functions/pages/waterfall";
import { REFERENCE_GRAMMAR } from "../../lib/batch/template";

/**
 * The pages inline their scripts by their own source (the waterfall kit, the playground's and the
 * docs' page functions). Wrangler bundles the Worker minified, which renames identifiers, and with
 * keepNames would wrap named functions in a `__name()` helper the page does not have: so each
 * script, taken from such a bundle, must still run on its own, with nothing but the browser's
 * globals, and the kit must answer as its source does.
 */

const BATCH = {
  steps: [
    { id: "start", http: { url: "/v1/sim/delay/100" } },
    { id: "left", http: { url: "/v1/sim/delay/150?after={{start.body.delayedMs}}" } },
    { id: "right", dependsOn: ["start"], http: { url: "/v1/sim/delay/350" } },
    { id: "join", dependsOn: ["left", "right"], wait: { ms: 50 } },
  ],
};
const RESULTS = {
  start: { id: "start", ok: true, startMs: 0, durationMs: 100 },
  left: { id: "left", ok: true, startMs: 100, durationMs: 150, attempts: 2 },
  right: { id: "right", ok: false, startMs: 100, durationMs: 350, error: { code: "timeout", message: "slow" } },
  join: { id: "join", ok: false, startMs: 450, durationMs: 0, error: { code: "skipped", message: "right failed" } },
};

function exercise(kit: WaterfallKit) {
  const deps = kit.dependencies(BATCH);
  return {
    deps,
    path: kit.criticalPath(RESULTS, deps),
    layout: kit.layout(kit.stepIds(BATCH), RESULTS, deps, { width: 900, left: 120, right: 60, top: 20, rowHeight: 24, barHeight: 14 }),
  };
}

/** The page modules as wrangler bundles them (minified; HTML and CSS as text), imported here. */
async function bundled<T>(file: string, keepNames: boolean): Promise<T> {
  const bundle = await build({
    entryPoints: [new URL(`../../functions/pages/${file}`, import.meta.url).pathname],
    bundle: true,
    format: "esm",
    platform: "neutral",
    minify: true,
    keepNames,
    loader: { ".html": "text", ".css": "text" },
    write: false,
    logLevel: "silent",
  });
  return (await import(`data:text/javascript;base64,${Buffer.from(bundle.outputFiles[0]!.text).toString("base64")}`)) as T;
}

/**
 * A stand-in for every DOM object the page scripts touch: any property, call or `new` gives another
 * stand-in, and it converts to 0 or "". Enough to run a page script to its end, where a name it
 * expects from its module (not the browser) would throw a ReferenceError.
 */
function anything(): unknown {
  const target = () => undefined;
  const proxy: unknown = new Proxy(target, {
    get: (_, key) => (key === Symbol.toPrimitive ? (hint: string) => (hint === "number" ? 0 : "") : key === "then" ? undefined : proxy),
    apply: () => proxy,
    construct: () => proxy as object,
    set: () => true,
  });
  return proxy;
}

function browserGlobals(fetched: unknown = {}): Record<string, unknown> {
  const stub = anything();
  return {
    document: { getElementById: stub, createElement: stub, createElementNS: stub, body: { dataset: {} } },
    history: stub,
    performance: { now: () => 0 },
    location: { hash: "", origin: "http://localhost", pathname: "/" },
    addEventListener: () => undefined,
    fetch: async () => ({ ok: true, status: 200, text: async () => JSON.stringify(fetched), json: async () => fetched }),
    URL,
  };
}

describe("the pages' inlined scripts", () => {
  it("the waterfall kit runs on its own from a minified, keepNames bundle and answers as the source does", async () => {
    const { waterfallKit: minified } = await bundled<{ waterfallKit: (grammar: unknown) => WaterfallKit }>("waterfall.ts", true);
    const script = `(${minified.toString()})(${JSON.stringify(REFERENCE_GRAMMAR)})`;
    expect(script).not.toContain("__name");
    // A fresh context: no module scope, no helpers, as in the page.
    const kit = runInNewContext(script, {}) as WaterfallKit;
    const expected = exercise(waterfallKit(REFERENCE_GRAMMAR));
    // Compared through JSON: objects from the other context have another Object prototype.
    expect(JSON.parse(JSON.stringify(exercise(kit)))).toEqual(JSON.parse(JSON.stringify(expected)));
    expect(expected.path).toEqual(["start", "right", "join"]);
  });

  it("the playground's script, from a minified bundle, runs to its end with only the browser's globals", async () => {
    const { PLAYGROUND_SCRIPT } = await bundled<{ PLAYGROUND_SCRIPT: string }>("playground-page.ts", false);
    expect(PLAYGROUND_SCRIPT).not.toContain("__name");
    const context = browserGlobals();
    runInNewContext(`${PLAYGROUND_SCRIPT}\nglobalThis.kit = kit;`, context);
    // The kit it built works (with lib's grammar).
    expect(JSON.parse(JSON.stringify(exercise(context.kit as WaterfallKit)))).toEqual(
      JSON.parse(JSON.stringify(exercise(waterfallKit(REFERENCE_GRAMMAR)))),
    );
  });

  it("the docs' script, from a minified bundle, renders a document with only the browser's globals", async () => {
    const { docsHtml } = await bundled<{ docsHtml: (nonce: string) => string }>("docs-page.ts", false);
    const script = /<script nonce="n0nce">([\s\S]*)<\/script>/.exec(docsHtml("n0nce"))?.[1] ?? "";
    const operation = {
      tags: ["t"],
      security: [],
      parameters: [{ name: "a", in: "query", schema: { type: "string" } }],
      requestBody: { content: { "application/json": { schema: { type: "object" } } } },
      responses: { 200: { description: "ok", content: { "application/json": { schema: { $ref: "#/components/schemas/S" } } } } },
    };
    const doc = {
      info: { title: "t", version: "1" },
      paths: { "/x": { get: operation } },
      components: { schemas: { S: { type: "object" } } },
    };
    const context = browserGlobals(doc);
    runInNewContext(script, context);
    // It sets this after the last line of rendering; an error on the way would stop short of it.
    await expect.poll(() => (context.document as { body: { dataset: Record<string, string> } }).body.dataset.loaded).toBe("true");
  });
});
