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
    // Its notes (right's error code, join's skip) and its tick labels included.
    layout: kit.layout(kit.stepIds(BATCH), RESULTS, deps, { width: 900, left: 120, right: 60, top: 20, rowHeight: 24, barHeight: 14 }),
    labels: [kit.tickLabel(0.2 + 0.2 + 0.2, 0.2), kit.tickLabel(0.1 + 0.2, 0.1)],
    note: kit.placeNote("a note", 400, 880, 120, 900),
  };
}

/**
 * The page modules as wrangler bundles them (minified; HTML and CSS as text), imported here; or not
 * minified (as under `wrangler dev --minify=false` and the Workers test pool), where no constant from
 * the module is inlined into a function for it.
 */
async function bundled<T>(file: string, keepNames: boolean, minify = true): Promise<T> {
  const bundle = await build({
    entryPoints: [new URL(`../../functions/pages/${file}`, import.meta.url).pathname],
    bundle: true,
    format: "esm",
    platform: "neutral",
    minify,
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

  it.each([true, false])(
    "the playground's chart and payload panel (minified: %s) draw and list a run with only the browser's globals",
    async (minify) => {
      const { chartView } = await bundled<{ chartView: (kit: WaterfallKit) => { draw(state: unknown): void } }>("chart.js", false, minify);
      const { payloadView } = await bundled<{ payloadView: () => Record<string, (...args: unknown[]) => void> }>(
        "payload.js",
        false,
        minify,
      );
      const context = browserGlobals();
      const kit = waterfallKit(REFERENCE_GRAMMAR);
      const chart = runInNewContext(`(${chartView.toString()})`, context)(kit);
      const deps = kit.dependencies(BATCH);
      // Every mark: a retry, a failure's note, a skipped step's marker, a selected row, a pending row.
      chart.draw({ order: [...kit.stepIds(BATCH), "pending"], deps, results: RESULTS, totalMs: 500, selected: "left" });
      const view = runInNewContext(`(${payloadView.toString()})()`, context);
      for (const [id, result] of Object.entries(RESULTS)) view.step!(id, { ...result, body: { id } }, kit.stepIds(BATCH));
      view.step!("left", { ...RESULTS.left, body: "x".repeat(30_000) }, kit.stepIds(BATCH));
      view.select!("right");
      view.composite!("GET /v1/c/home?user=1", { status: 200, headers: new Headers({ "cache-status": "fanout; hit" }) }, '{"a":1}');
      view.composite!("GET /v1/c/home?user=1", { status: 502, headers: new Headers() }, "not json");
      view.clear!();
    },
  );

  it.each([true, false])("the docs' script (minified: %s) renders a document with only the browser's globals", async (minify) => {
    const { docsHtml } = await bundled<{ docsHtml: (nonce: string) => string }>("docs-page.ts", false, minify);
    const script = /<script nonce="n0nce">([\s\S]*)<\/script>/.exec(docsHtml("n0nce"))?.[1] ?? "";
    const operation = {
      tags: ["t"],
      security: [],
      summary: "Reads `x`",
      description: "**Bold** `code` [a link](/docs) [no link](javascript:x)\nand a line",
      parameters: [{ name: "a", in: "query", schema: { type: "string" } }, { $ref: "#/components/parameters/P" }],
      requestBody: {
        content: { "application/json": { schema: { type: "object", properties: { s: { $ref: "#/components/schemas/S" } } } } },
      },
      responses: {
        200: { description: "ok", content: { "application/json": { schema: { $ref: "#/components/schemas/S" } } } },
        201: { $ref: "#/components/responses/R" },
        400: { description: "no", content: { "application/json": { schema: { $ref: "#/components/schemas/S" } } } },
      },
    };
    // S refers to itself (its tree stops there) and reaches every kind of field: arrays, other names, variants, enums, a missing $ref.
    const S = {
      type: "object",
      required: ["self"],
      properties: {
        self: { $ref: "#/components/schemas/S" },
        list: { type: "array", items: { type: "object", properties: { n: { type: "integer", enum: [1, 2], description: "`n`" } } } },
        map: { type: "object", additionalProperties: { type: "string" } },
        either: { oneOf: [{ type: "string" }, { $ref: "#/components/schemas/Missing" }] },
      },
    };
    const doc = {
      info: { title: "t", version: "1", description: "`fanout`" },
      paths: { "/x": { get: operation } },
      components: {
        schemas: { S },
        parameters: { P: { name: "Prefer", in: "header", description: "`respond-async`", schema: { type: "string" } } },
        responses: { R: { description: "made", content: { "application/json": { schema: S } } } },
      },
    };
    const context = browserGlobals(doc);
    runInNewContext(script, context);
    // It sets this after the last line of rendering; an error on the way would stop short of it.
    await expect.poll(() => (context.document as { body: { dataset: Record<string, string> } }).body.dataset.loaded).toBe("true");
  });
});
