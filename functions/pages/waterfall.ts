/**
 * The playground's waterfall logic, without a browser: which steps a batch's steps depend on, the
 * outcome of a settled step, the critical path, and the layout of bars on a shared time axis.
 *
 * The same code runs in the page: the playground inlines this function's own source and calls it
 * with lib/'s reference grammar (`REFERENCE_GRAMMAR`, as data), so the page finds `{{references}}`
 * exactly as the engine does. So the kit is one self-contained function whose parts are methods of
 * one object (`kit.x`), with no module-level names, no named inner functions and no imports: a
 * minifier may rename or wrap those, and the page would not have them.
 */

/** One settled step as the NDJSON stream (or a composite's `?debug=1` envelope) reports it. */
export interface StepTiming {
  id: string;
  ok: boolean;
  startMs: number;
  durationMs: number;
  attempts?: number;
  hedged?: boolean;
  coalesced?: boolean;
  status?: number;
  error?: { code: string; message: string };
}

export type Outcome = "ok" | "failed" | "skipped" | "cancelled" | "coalesced";

export interface Bar {
  id: string;
  row: number;
  x: number;
  y: number;
  width: number;
  height: number;
  startMs: number;
  endMs: number;
  outcome: Outcome;
  attempts: number;
  hedged: boolean;
  critical: boolean;
  title: string;
  /** The reason shown next to a failed or skipped bar without hovering, and where it fits; absent otherwise. */
  note?: Note;
}

/** A label beside a bar: right of it (after its marks) when it fits, else left of it, else over its end. */
export type Note = { text: string; x: number; anchor: "start" | "end" };

export interface Arrow {
  from: string;
  to: string;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  critical: boolean;
}

export interface Layout {
  width: number;
  height: number;
  left: number;
  top: number;
  msPerPx: number;
  totalMs: number;
  bars: Bar[];
  arrows: Arrow[];
  ticks: { x: number; ms: number; label: string }[];
}

export interface LayoutOptions {
  width: number;
  left: number;
  /** Room kept right of the axis (for the marks drawn after a bar). */
  right?: number;
  top: number;
  rowHeight: number;
  barHeight: number;
  /** The axis spans at least this long (the batch's duration once the summary arrived). */
  minTotalMs?: number;
}

export interface WaterfallKit {
  /** The step ids in batch order (an array `steps` of objects with an `id`); [] for anything else. */
  stepIds(batch: unknown): string[];
  /** Each step's dependencies: `dependsOn` plus every `{{id...}}` reference to another step of the batch. */
  dependencies(batch: unknown): Record<string, string[]>;
  outcome(result: StepTiming): Outcome;
  /** When a settled step ended (startMs + durationMs); -Infinity for one not settled. */
  endMs(results: Record<string, StepTiming>, id: string): number;
  /** Whether step a ended after step b; on a tie, whether it started later (a 0 ms step after its dependency). */
  endsLater(results: Record<string, StepTiming>, a: string, b: string): boolean;
  /** The chain that ends last: the step with the latest end, then, repeatedly, its dependency that ended last. */
  criticalPath(results: Record<string, StepTiming>, deps: Record<string, string[]>): string[];
  /** A "nice" tick step (1, 2 or 5 x 10^n ms) that gives at most `maxTicks` ticks over `totalMs`. */
  tickStep(totalMs: number, maxTicks: number): number;
  /** A tick's label, with only the decimals its step has (`0.6 ms`, never `0.6000000000000001 ms`). */
  tickLabel(ms: number, step: number): string;
  /** What a failed bar (its error code, and HTTP status) or a skipped one (why) shows beside it; "" otherwise. */
  noteText(result: StepTiming): string;
  /** Where a note of `text` goes for a bar from `x0` to `x1` (its marks included), within [left, width]. */
  placeNote(text: string, x0: number, x1: number, left: number, width: number): Note;
  layout(order: string[], results: Record<string, StepTiming>, deps: Record<string, string[]>, options: LayoutOptions): Layout;
}

/** lib/batch/template.ts's `REFERENCE_GRAMMAR`: regular expression sources, as plain data. */
export interface ReferenceGrammar {
  reference: string;
  root: string;
}

export function waterfallKit(grammar: ReferenceGrammar): WaterfallKit {
  const reference = new RegExp(grammar.reference, "g");
  const root = new RegExp(grammar.root);
  const kit: WaterfallKit = {
    stepIds(batch) {
      const steps = batch && typeof batch === "object" ? (batch as { steps?: unknown }).steps : undefined;
      if (!Array.isArray(steps)) return [];
      const ids: string[] = [];
      for (const step of steps) {
        const id = step && typeof step === "object" ? (step as { id?: unknown }).id : undefined;
        if (typeof id === "string" && !ids.includes(id)) ids.push(id);
      }
      return ids;
    },

    dependencies(batch) {
      const ids = kit.stepIds(batch);
      const deps: Record<string, string[]> = {};
      const steps = (batch as { steps: Record<string, unknown>[] }).steps ?? [];
      for (const step of steps) {
        if (!step || typeof step !== "object" || typeof step.id !== "string") continue;
        const own = step.id;
        const named: unknown[] = Array.isArray(step.dependsOn) ? [...step.dependsOn] : [];
        // Every string anywhere in the step (url, headers, body, params, forEach): {{id.path}} references.
        const pending: unknown[] = [step];
        while (pending.length > 0) {
          const value = pending.pop();
          if (typeof value === "string") {
            for (const match of value.matchAll(reference)) named.push(root.exec((match[1] ?? "").trim())?.[0]);
          } else if (value && typeof value === "object") {
            for (const [key, inner] of Object.entries(value)) if (key !== "id" && key !== "dependsOn") pending.push(inner);
          }
        }
        const found: string[] = deps[own] ?? [];
        for (const id of named) if (typeof id === "string" && id !== own && ids.includes(id) && !found.includes(id)) found.push(id);
        deps[own] = found;
      }
      return deps;
    },

    outcome(result) {
      if (result.ok) return result.coalesced ? "coalesced" : "ok";
      const code = result.error?.code;
      if (code === "skipped") return "skipped";
      if (code === "cancelled") return "cancelled";
      return "failed";
    },

    endMs(results, id) {
      const result = results[id];
      return result ? result.startMs + result.durationMs : Number.NEGATIVE_INFINITY;
    },

    endsLater(results, a, b) {
      const endA = kit.endMs(results, a);
      const endB = kit.endMs(results, b);
      if (endA !== endB) return endA > endB;
      return (results[a]?.startMs ?? 0) > (results[b]?.startMs ?? 0);
    },

    criticalPath(results, deps) {
      let current: string | undefined;
      for (const id of Object.keys(results)) if (current === undefined || kit.endsLater(results, id, current)) current = id;
      const path: string[] = [];
      while (current !== undefined && !path.includes(current)) {
        path.unshift(current);
        let next: string | undefined;
        for (const dep of deps[current] ?? []) if (results[dep] && (next === undefined || kit.endsLater(results, dep, next))) next = dep;
        current = next;
      }
      return path;
    },

    tickStep(totalMs, maxTicks) {
      const raw = Math.max(totalMs, 1) / Math.max(maxTicks, 1);
      const power = 10 ** Math.floor(Math.log10(raw));
      for (const factor of [1, 2, 5, 10]) if (factor * power >= raw) return factor * power;
      return 10 * power;
    },

    tickLabel(ms, step) {
      const decimals = step >= 1 ? 0 : Math.min(Math.ceil(-Math.log10(step) - 1e-9), 9);
      return `${Number(ms.toFixed(decimals))} ms`;
    },

    noteText(result) {
      const outcome = kit.outcome(result);
      const error = result.error;
      if (outcome === "failed") return `${error?.code ?? "failed"}${result.status ? ` ${result.status}` : ""}`;
      if (outcome !== "skipped") return "";
      const text = `skipped: ${error?.message ?? ""}`;
      return text.length > 60 ? `${text.slice(0, 59)}\u2026` : text;
    },

    placeNote(text, x0, x1, left, width) {
      // 11px monospace: about 6.6 px a character.
      const size = text.length * 6.6;
      if (x1 + 4 + size <= width) return { text, x: x1 + 4, anchor: "start" };
      if (x0 - 4 - size >= left) return { text, x: x0 - 4, anchor: "end" };
      return { text, x: width - 2, anchor: "end" };
    },

    layout(order, results, deps, options) {
      const rows = [...order];
      for (const id of Object.keys(results)) if (!rows.includes(id)) rows.push(id);
      let totalMs = Math.max(options.minTotalMs ?? 0, 1);
      for (const id of Object.keys(results)) {
        const result = results[id] as StepTiming;
        totalMs = Math.max(totalMs, result.startMs + result.durationMs);
      }
      const plot = Math.max(options.width - options.left - (options.right ?? 8), 1);
      const msPerPx = totalMs / plot;
      const critical = kit.criticalPath(results, deps);
      const bars: Bar[] = [];
      rows.forEach((id, row) => {
        const result = results[id];
        if (!result) return;
        const outcome = kit.outcome(result);
        const attempts = result.attempts ?? 1;
        const lines = [
          `${id}: ${outcome}`,
          `start ${result.startMs} ms, took ${result.durationMs} ms`,
          `attempts ${attempts}${result.hedged ? ", hedged" : ""}${result.coalesced ? ", coalesced" : ""}`,
        ];
        if (result.error) lines.push(`error ${result.error.code}: ${result.error.message}`);
        const x = options.left + result.startMs / msPerPx;
        // A step that took 0 ms (skipped, or served at once) is still a visible sliver.
        const width = Math.max(result.durationMs / msPerPx, 2);
        const text = kit.noteText(result);
        // The marks after a bar: a skipped step's marker (7 px), ↻N (26 px), »hedged (52 px).
        const x1 = x + Math.max(width, outcome === "skipped" ? 7 : 0) + (attempts > 1 ? 26 : 0) + (result.hedged ? 52 : 0);
        bars.push({
          id,
          row,
          x,
          width,
          y: options.top + row * options.rowHeight + (options.rowHeight - options.barHeight) / 2,
          height: options.barHeight,
          startMs: result.startMs,
          endMs: result.startMs + result.durationMs,
          outcome,
          attempts,
          hedged: result.hedged === true,
          critical: critical.includes(id),
          title: lines.join("\n"),
          ...(text ? { note: kit.placeNote(text, x - (outcome === "skipped" ? 7 : 0), x1, options.left, options.width) } : {}),
        });
      });
      const arrows: Arrow[] = [];
      for (const bar of bars) {
        for (const dep of deps[bar.id] ?? []) {
          const from = bars.find((other) => other.id === dep);
          if (!from) continue;
          const onPath = critical.indexOf(dep) >= 0 && critical.indexOf(dep) + 1 === critical.indexOf(bar.id);
          arrows.push({
            from: dep,
            to: bar.id,
            x1: from.x + from.width,
            y1: from.y + from.height / 2,
            x2: bar.x,
            y2: bar.y + bar.height / 2,
            critical: onPath,
          });
        }
      }
      const step = kit.tickStep(totalMs, Math.max(Math.floor(plot / 80), 1));
      const ticks: Layout["ticks"] = [];
      // Each tick computed from its index (adding the step up drifts: 0.2 + 0.2 + 0.2 is 0.6000000000000001).
      for (let i = 0; i * step <= totalMs + 1e-9; i++) {
        const label = kit.tickLabel(i * step, step);
        ticks.push({ x: options.left + (i * step) / msPerPx, ms: Number.parseFloat(label), label });
      }
      return {
        width: options.width,
        height: options.top + rows.length * options.rowHeight + 4,
        left: options.left,
        top: options.top,
        msPerPx,
        totalMs,
        bars,
        arrows,
        ticks,
      };
    },
  };
  return kit;
}
