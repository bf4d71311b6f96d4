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
}

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
  ticks: { x: number; ms: number }[];
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
        bars.push({
          id,
          row,
          x: options.left + result.startMs / msPerPx,
          // A step that took 0 ms (skipped, or served at once) is still a visible sliver.
          width: Math.max(result.durationMs / msPerPx, 2),
          y: options.top + row * options.rowHeight + (options.rowHeight - options.barHeight) / 2,
          height: options.barHeight,
          startMs: result.startMs,
          endMs: result.startMs + result.durationMs,
          outcome,
          attempts,
          hedged: result.hedged === true,
          critical: critical.includes(id),
          title: lines.join("\n"),
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
      const ticks: { x: number; ms: number }[] = [];
      for (let ms = 0; ms <= totalMs + 1e-9; ms += step) ticks.push({ x: options.left + ms / msPerPx, ms });
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
