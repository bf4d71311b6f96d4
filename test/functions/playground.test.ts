import { describe, expect, it } from "vitest";
import { markdownInline } from "../../functions/pages/markdown.js";
import { PLAYGROUND_EXAMPLES } from "../../functions/pages/playground-examples";
import { PLAYGROUND_SCRIPT } from "../../functions/pages/playground-page";
import { type StepTiming, waterfallKit } from "../../functions/pages/waterfall";
import { buildPlan } from "../../lib/batch/plan";
import type { StepInput } from "../../lib/batch/steps/types";
import { REFERENCE_GRAMMAR } from "../../lib/batch/template";
import { call } from "./helpers";

const kit = waterfallKit(REFERENCE_GRAMMAR);

function result(id: string, startMs: number, durationMs: number, extra: Partial<StepTiming> = {}): StepTiming {
  return { id, ok: true, startMs, durationMs, ...extra };
}

describe("waterfall kit: dependencies", () => {
  it("reads dependsOn and {{id...}} references anywhere in a step, only to other steps of the batch", () => {
    const batch = {
      steps: [
        { id: "user", d1: { query: "userById", params: [1] } },
        { id: "orders", d1: { query: "ordersByUser", params: ["{{user.body[0].id}}"] } },
        { id: "a", http: { url: "/v1/sim/delay/1?x={{ orders.status }}", headers: { "x-u": "{{user.headers.etag}}" } } },
        { id: "each", forEach: "{{orders.body}}", http: { url: "/v1/sim/delay/1?o={{item.id}}&i={{index}}" } },
        { id: "join", dependsOn: ["a", "each", "a"], wait: { ms: 1 } },
        { id: "self", http: { url: "/v1/sim/delay/1?{{self.status}}{{missing.body}}" } },
      ],
    };
    expect(kit.stepIds(batch)).toEqual(["user", "orders", "a", "each", "join", "self"]);
    const deps = kit.dependencies(batch);
    expect({ ...deps, a: [...(deps.a ?? [])].sort() }).toEqual({
      user: [],
      orders: ["user"],
      a: ["orders", "user"],
      each: ["orders"],
      join: ["a", "each"],
      self: [],
    });
  });

  it("finds the dependencies the engine plans, for every example batch (one reference grammar, lib's)", () => {
    for (const [name, example] of Object.entries(PLAYGROUND_EXAMPLES)) {
      const steps = (example.batch as { steps: StepInput[] }).steps;
      const plan = buildPlan(steps, { maxSteps: 100, subrequestBudget: 1000, isInProcess: () => true });
      const planned = Object.fromEntries(plan.steps.map((step) => [step.id, [...step.dependsOn].sort()]));
      const drawn = Object.fromEntries(Object.entries(kit.dependencies(example.batch)).map(([id, deps]) => [id, [...deps].sort()]));
      expect(drawn, name).toEqual(planned);
    }
  });

  it("gives nothing for something that is not a batch", () => {
    expect(kit.stepIds(null)).toEqual([]);
    expect(kit.stepIds({ steps: "x" })).toEqual([]);
    expect(kit.dependencies({ steps: [null, 1, { id: 3 }] })).toEqual({});
  });
});

describe("waterfall kit: outcomes and the critical path", () => {
  it("names each outcome the page colours", () => {
    expect(kit.outcome(result("a", 0, 1))).toBe("ok");
    expect(kit.outcome(result("a", 0, 1, { coalesced: true }))).toBe("coalesced");
    expect(kit.outcome(result("a", 0, 1, { ok: false, error: { code: "skipped", message: "" } }))).toBe("skipped");
    expect(kit.outcome(result("a", 0, 1, { ok: false, error: { code: "cancelled", message: "" } }))).toBe("cancelled");
    expect(kit.outcome(result("a", 0, 1, { ok: false, error: { code: "timeout", message: "" } }))).toBe("failed");
  });

  it("follows the dependency that ended last, back from the step that ended last", () => {
    // start -> left (ends 250), start -> right (ends 450); join depends on both; lone ends at 300.
    const results = {
      start: result("start", 0, 100),
      left: result("left", 100, 150),
      right: result("right", 100, 350),
      join: result("join", 450, 50),
      lone: result("lone", 0, 300),
    };
    const deps = { start: [], left: ["start"], right: ["start"], join: ["left", "right"], lone: [] };
    expect(kit.criticalPath(results, deps)).toEqual(["start", "right", "join"]);
    // Before join and right settled, the chain that ends last so far.
    const { start, left, lone } = results;
    expect(kit.criticalPath({ start, left, lone }, deps)).toEqual(["lone"]);
    expect(kit.criticalPath({}, deps)).toEqual([]);
  });
});

describe("waterfall kit: layout", () => {
  const options = { width: 1000, left: 100, right: 100, top: 20, rowHeight: 20, barHeight: 10 };

  it("puts bars on one time axis, in batch order, with a sliver for 0 ms", () => {
    const results = {
      b: result("b", 100, 300),
      a: result("a", 0, 100),
      c: result("c", 400, 0, { ok: false, error: { code: "skipped", message: "x" } }),
    };
    const layout = kit.layout(["a", "b", "c"], results, { b: ["a"], c: ["b"] }, options);
    expect(layout.totalMs).toBe(400);
    expect(layout.msPerPx).toBe(0.5);
    expect(layout.bars.map((bar) => [bar.id, bar.row, bar.x, bar.width, bar.y])).toEqual([
      ["a", 0, 100, 200, 25],
      ["b", 1, 300, 600, 45],
      ["c", 2, 900, 2, 65],
    ]);
    expect(layout.bars.every((bar) => bar.critical)).toBe(true);
    expect(layout.bars[2]!.title).toContain("error skipped: x");
    expect(layout.arrows.map((arrow) => [arrow.from, arrow.to, arrow.x1, arrow.x2, arrow.critical])).toEqual([
      ["a", "b", 300, 300, true],
      ["b", "c", 900, 900, true],
    ]);
    expect(layout.ticks.map((tick) => tick.ms)).toEqual([0, 50, 100, 150, 200, 250, 300, 350, 400]);
  });

  it("keeps a row for a step still pending and stretches the axis to the batch's duration", () => {
    const layout = kit.layout(
      ["slow", "fast"],
      { fast: result("fast", 0, 10, { attempts: 3, hedged: true }) },
      {},
      { ...options, minTotalMs: 800 },
    );
    expect(layout.totalMs).toBe(800);
    expect(layout.bars).toHaveLength(1);
    expect(layout.bars[0]).toMatchObject({ id: "fast", row: 1, attempts: 3, hedged: true });
    expect(layout.height).toBe(20 + 2 * 20 + 4);
  });

  it("picks 1, 2 or 5 x 10^n ms ticks", () => {
    expect(kit.tickStep(1000, 10)).toBe(100);
    expect(kit.tickStep(1000, 4)).toBe(500);
    expect(kit.tickStep(330, 8)).toBe(50);
    expect(kit.tickStep(0, 5)).toBe(0.2);
  });

  it("labels ticks with only the decimals their step has", () => {
    expect(kit.tickLabel(0.2 + 0.2 + 0.2, 0.2)).toBe("0.6 ms");
    expect(kit.tickLabel(0.1 + 0.2, 0.1)).toBe("0.3 ms");
    expect(kit.tickLabel(3 * 0.05, 0.05)).toBe("0.15 ms");
    expect(kit.tickLabel(7 * 0.001, 0.001)).toBe("0.007 ms");
    expect(kit.tickLabel(0, 0.2)).toBe("0 ms");
    expect(kit.tickLabel(1500, 500)).toBe("1500 ms");
    expect(kit.tickLabel(3 * 1.1, 1)).toBe("3 ms");
    // The axis before anything ran spans 1 ms: 0.2 ms ticks, each computed from its index.
    const layout = kit.layout(["a"], {}, {}, { ...options, width: 700 });
    expect(layout.ticks.map((tick) => tick.label)).toEqual(["0 ms", "0.2 ms", "0.4 ms", "0.6 ms", "0.8 ms", "1 ms"]);
    expect(layout.ticks.map((tick) => tick.ms)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });
});

describe("waterfall kit: what a failed or skipped bar shows without hovering", () => {
  const options = { width: 1000, left: 100, right: 100, top: 20, rowHeight: 20, barHeight: 10 };
  const failedWith = (code: string, extra: Partial<StepTiming> = {}) =>
    result("a", 0, 1, { ok: false, error: { code, message: "why" }, ...extra });

  it("a failure's error code (and HTTP status), a skip's reason, nothing for the rest", () => {
    expect(kit.noteText(failedWith("http_status", { status: 500 }))).toBe("http_status 500");
    expect(kit.noteText(failedWith("timeout"))).toBe("timeout");
    expect(kit.noteText(result("a", 0, 1, { ok: false, error: { code: "skipped", message: 'dependency "b" did not succeed' } }))).toBe(
      'skipped: dependency "b" did not succeed',
    );
    const long = kit.noteText(result("a", 0, 1, { ok: false, error: { code: "skipped", message: "x".repeat(100) } }));
    expect(long).toHaveLength(60);
    expect(long.endsWith("\u2026")).toBe(true);
    expect(kit.noteText(failedWith("cancelled"))).toBe("");
    expect(kit.noteText(result("a", 0, 1))).toBe("");
    expect(kit.noteText(result("a", 0, 1, { coalesced: true }))).toBe("");
  });

  it("places a note right of its bar, else left of it, else over its end", () => {
    // 10 characters: 66 px.
    expect(kit.placeNote("0123456789", 200, 300, 100, 1000)).toEqual({ text: "0123456789", x: 304, anchor: "start" });
    expect(kit.placeNote("0123456789", 200, 950, 100, 1000)).toEqual({ text: "0123456789", x: 196, anchor: "end" });
    expect(kit.placeNote("0123456789", 120, 950, 100, 1000)).toEqual({ text: "0123456789", x: 998, anchor: "end" });
  });

  it("gives failed and skipped bars their note in the layout, after their marks", () => {
    const results = {
      ok: result("ok", 0, 100),
      broken: result("broken", 0, 100, { ok: false, status: 503, attempts: 3, error: { code: "http_status", message: "503" } }),
      after: result("after", 100, 0, { ok: false, error: { code: "skipped", message: 'dependency "broken" did not succeed' } }),
      late: result("late", 300, 100, { ok: false, error: { code: "deadline_exceeded", message: "slow" } }),
    };
    const layout = kit.layout(["ok", "broken", "after", "late"], results, {}, options);
    const notes = Object.fromEntries(layout.bars.map((bar) => [bar.id, bar.note]));
    expect(notes.ok).toBeUndefined();
    // broken ends at x 300; its ↻3 mark takes 26 px.
    expect(notes.broken).toEqual({ text: "http_status 503", x: 330, anchor: "start" });
    // after is a 0 ms step at x 300: its skip marker (7 px) first.
    expect(notes.after).toEqual({ text: 'skipped: dependency "broken" did not succeed', x: 311, anchor: "start" });
    // late ends at the axis's end, and its note (112 px) does not fit in the 100 px after it: it goes left of it.
    expect(notes.late).toEqual({ text: "deadline_exceeded", x: 696, anchor: "end" });
  });
});

describe("the docs' Markdown (markdown.js)", () => {
  it("reads `code`, **bold** (with code inside), links and line breaks; the rest is text", () => {
    expect(markdownInline("`respond-async`: answer **202 `now`** at [once](/docs#x)\nthen")).toEqual([
      { code: "respond-async" },
      { text: ": answer " },
      { strong: [{ text: "202 " }, { code: "now" }] },
      { text: " at " },
      { link: "once", href: "/docs#x" },
      { br: true },
      { text: "then" },
    ]);
    // No italics: paths with * stay as they are.
    expect(markdownInline("/v1/sim/*, /v1/examples/* and a*b*c")).toEqual([{ text: "/v1/sim/*, /v1/examples/* and a*b*c" }]);
    expect(markdownInline("an `unclosed tick and ** no bold")).toEqual([{ text: "an `unclosed tick and ** no bold" }]);
    expect(markdownInline(undefined)).toEqual([]);
    expect(markdownInline(42)).toEqual([]);
  });

  it("links only to http(s), this server's paths and fragments; any other target keeps the text alone", () => {
    for (const href of ["https://example.com/a", "http://x.test", "/openapi.json", "#schema-S", "./a", "../b"])
      expect(markdownInline(`[t](${href})`), href).toEqual([{ link: "t", href }]);
    for (const href of ["javascript:alert", "JAVASCRIPT:alert", "data:text/html,x", "//evil.test/x", "vbscript:x", "mailto:a@b"])
      expect(markdownInline(`[t](${href})`), href).toEqual([{ text: "t" }]);
    // A target with parentheses is not a link at all.
    expect(markdownInline("[t](javascript:alert(1))")).toEqual([{ text: "[t](javascript:alert(1))" }]);
  });
});

describe("GET /playground and GET /docs", () => {
  for (const path of ["/playground", "/docs"]) {
    it(`${path} is one HTML page whose script and style run under its own strict CSP`, async () => {
      const res = await call(path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
      const csp = res.headers.get("content-security-policy") ?? "";
      const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
      expect(nonce).toBeTruthy();
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("connect-src 'self'");
      const html = await res.text();
      // Every script and style carries the nonce; nothing is loaded from another origin.
      expect(html.match(/<script nonce="([^"]+)">/g)).toEqual([`<script nonce="${nonce}">`]);
      expect(html).not.toMatch(/<script[^>]* src=|<link[^>]*href="(?!data:)|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
      // The global security headers are still set.
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      // A fresh nonce per answer.
      const again = await call(path);
      expect(again.headers.get("content-security-policy")).not.toBe(csp);
    });
  }

  it("the playground inlines the waterfall kit with lib's reference grammar, its own script and the examples", async () => {
    const html = await (await call("/playground")).text();
    expect(html).toContain(PLAYGROUND_SCRIPT);
    expect(PLAYGROUND_SCRIPT).toContain(JSON.stringify(REFERENCE_GRAMMAR));
    expect(html).not.toMatch(/\$(NONCE|STYLE|SCRIPT)\b/);
    for (const name of ["quickstart", "diamond", "forEach", "hedge", "race"]) expect(html).toContain(`"${name}":`);
  });

  it("other routes get no CSP from the pages", async () => {
    const res = await call("/healthz");
    expect(res.headers.get("content-security-policy")).toBeNull();
  });

  it("every example is a batch the gateway accepts", async () => {
    for (const [name, example] of Object.entries(PLAYGROUND_EXAMPLES)) {
      const res = await call("/v1/batch", {
        method: "POST",
        headers: { authorization: "Bearer test-key-0123456789", "content-type": "application/json" },
        body: JSON.stringify(example.batch),
      });
      // 502: a race whose first settled step failed is still a batch that ran.
      expect([200, 502], name).toContain(res.status);
      const body = (await res.json()) as { results: Record<string, unknown> };
      expect(Object.keys(body.results).sort()).toEqual(kit.stepIds(example.batch).sort());
    }
  });
});
