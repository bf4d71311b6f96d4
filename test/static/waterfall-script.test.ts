import { runInNewContext } from "node:vm";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { type WaterfallKit, waterfallKit } from "../../functions/pages/waterfall";

/**
 * The playground inlines the waterfall kit's own source (`WATERFALL_SCRIPT`). Wrangler bundles the
 * Worker minified and with keepNames, which renames identifiers and wraps named inner functions in a
 * `__name()` helper the page does not have: so the kit, taken from such a bundle, must still run on
 * its own, with no globals, and answer as the source does.
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

describe("the playground's inlined waterfall kit", () => {
  it("runs on its own from a minified, keepNames bundle and answers as the source does", async () => {
    const bundle = await build({
      entryPoints: [new URL("../../functions/pages/waterfall.ts", import.meta.url).pathname],
      bundle: true,
      format: "esm",
      platform: "neutral",
      minify: true,
      keepNames: true,
      write: false,
      logLevel: "silent",
    });
    const code = bundle.outputFiles[0]!.text;
    const bundled = (await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`)) as { WATERFALL_SCRIPT: string };
    const script = bundled.WATERFALL_SCRIPT;
    expect(script).not.toContain("__name");
    // A fresh context: no module scope, no helpers, as in the page.
    const kit = runInNewContext(script, {}) as WaterfallKit;
    const expected = exercise(waterfallKit());
    // Compared through JSON: objects from the other context have another Object prototype.
    expect(JSON.parse(JSON.stringify(exercise(kit)))).toEqual(JSON.parse(JSON.stringify(expected)));
    expect(expected.path).toEqual(["start", "right", "join"]);
  });
});
