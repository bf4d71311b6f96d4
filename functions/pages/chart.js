/**
 * The playground's waterfall, drawn as SVG from the kit's layout: the axis, a row per step (a click
 * target: it opens the step's payload), arrows from dependencies, a bar per settled step with its
 * marks, a visible marker for a skipped step, and the reason beside a failed or skipped one. The page
 * inlines this function's own source (functions/pages/playground-page.ts), so it is self-contained:
 * only its argument and the browser's globals.
 *
 * @param {import("./waterfall").WaterfallKit} kit the waterfall kit (layout, dependencies, outcomes)
 * @returns {ChartView}
 * @typedef {{ order: string[], deps: Record<string, string[]>, results: Record<string, import("./waterfall").StepTiming>, totalMs: number, selected: string }} ChartState
 * @typedef {{ draw(state: ChartState): void }} ChartView
 */
export function chartView(kit) {
  const NS = "http://www.w3.org/2000/svg";
  /** @type {(id: string) => any} The page's own elements, by id (the chart and its SVG). */
  const $ = (id) => document.getElementById(id);
  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (parent) parent.appendChild(node);
    return node;
  }

  /** @type {ChartView} */
  return {
    draw(state) {
      const svg = $("waterfall");
      svg.replaceChildren();
      const width = Math.max($("chart").clientWidth - 2, 480);
      const layout = kit.layout(state.order, state.results, state.deps, {
        width,
        left: 150,
        right: 90,
        top: 24,
        rowHeight: 26,
        barHeight: 16,
        minTotalMs: state.totalMs,
      });
      svg.setAttribute("width", String(layout.width));
      svg.setAttribute("height", String(layout.height));
      svg.setAttribute("viewBox", `0 0 ${layout.width} ${layout.height}`);
      const defs = el("defs", {}, svg);
      for (const [id, color] of [
        ["head", "#8a9199"],
        ["head-critical", "#1b1f24"],
      ]) {
        const marker = el(
          "marker",
          { id, viewBox: "0 0 8 8", refX: 8, refY: 4, markerWidth: 8, markerHeight: 8, markerUnits: "userSpaceOnUse", orient: "auto" },
          defs,
        );
        el("path", { d: "M0,0 L8,4 L0,8 z", fill: color }, marker);
      }
      const rows = [...state.order];
      for (const id of Object.keys(state.results)) if (!rows.includes(id)) rows.push(id);
      // Each row is a click target (under everything else): it opens the step's payload.
      rows.forEach((id, row) => {
        el(
          "rect",
          {
            class: id === state.selected ? "row selected" : "row",
            x: 0,
            y: 24 + row * 26,
            width: layout.width,
            height: 26,
            "data-step": id,
          },
          svg,
        );
      });
      for (const tick of layout.ticks) {
        el("line", { class: "tick", x1: tick.x, x2: tick.x, y1: 16, y2: layout.height }, svg);
        el("text", { class: "tick", x: tick.x + 2, y: 12 }, svg).textContent = tick.label;
      }
      rows.forEach((id, row) => {
        const label = el(
          "text",
          { x: 4, y: 24 + row * 26 + 17, class: state.results[id] ? "label" : "label pending", "data-step": id },
          svg,
        );
        label.textContent = id.length > 18 ? `${id.slice(0, 17)}\u2026` : id;
        if (!state.results[id])
          el("text", { x: 150, y: 24 + row * 26 + 17, class: "pending", "data-pending": id }, svg).textContent = "pending\u2026";
      });
      for (const arrow of layout.arrows) {
        const mid = Math.max(arrow.x1, arrow.x2 - 12);
        el(
          "path",
          {
            class: arrow.critical ? "arrow critical" : "arrow",
            d: `M${arrow.x1},${arrow.y1} L${mid},${arrow.y1} L${mid},${arrow.y2} L${arrow.x2},${arrow.y2}`,
            "marker-end": arrow.critical ? "url(#head-critical)" : "url(#head)",
            "data-from": arrow.from,
            "data-to": arrow.to,
          },
          svg,
        );
      }
      for (const bar of layout.bars) {
        const group = el("g", { class: "step", "data-step": bar.id }, svg);
        const rect = el(
          "rect",
          {
            class: `bar o-${bar.outcome}${bar.critical ? " critical" : ""}`,
            x: bar.x,
            y: bar.y,
            width: bar.width,
            height: bar.height,
            rx: 2,
            "data-id": bar.id,
            "data-outcome": bar.outcome,
            "data-start": bar.startMs,
            "data-end": bar.endMs,
            "data-attempts": bar.attempts,
          },
          group,
        );
        el("title", {}, rect).textContent = bar.title;
        el("title", {}, group).textContent = bar.title;
        let x = bar.x + bar.width + 4;
        if (bar.outcome === "skipped") {
          // A skipped step took no time: a marker where it would have started, so it is seen without hovering.
          const cy = bar.y + bar.height / 2;
          const marker = el("g", { class: "skip-marker", "data-step": bar.id }, group);
          el("circle", { cx: bar.x + 1, cy, r: 6 }, marker);
          el("line", { x1: bar.x - 3, y1: cy + 4, x2: bar.x + 5, y2: cy - 4 }, marker);
        }
        if (bar.attempts > 1) {
          el("text", { class: "mark retry", x, y: bar.y + 12 }, group).textContent = `\u21bb${bar.attempts}`;
          x += 26;
        }
        if (bar.hedged) el("text", { class: "mark hedge", x, y: bar.y + 12 }, group).textContent = "\u00bbhedged";
        if (bar.note) {
          const note = el(
            "text",
            { class: `note n-${bar.outcome}`, x: bar.note.x, y: bar.y + 12, "text-anchor": bar.note.anchor, "data-step": bar.id },
            group,
          );
          note.textContent = bar.note.text;
        }
      }
    },
  };
}
