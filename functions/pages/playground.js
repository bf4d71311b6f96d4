/**
 * The playground's page script: edit a batch, run it over the NDJSON stream, draw each step's bar the
 * moment it settles. The page inlines this function's own source (functions/pages/playground-page.ts),
 * so it is self-contained: it uses only its arguments and the browser's globals.
 *
 * @param {import("./waterfall").WaterfallKit} kit the waterfall kit (layout, dependencies, outcomes)
 * @param {Record<string, { label: string, batch: unknown }>} EXAMPLES the example batches
 */
export function playgroundApp(kit, EXAMPLES) {
  const NS = "http://www.w3.org/2000/svg";
  /** @type {(id: string) => any} The page's own elements, by id (inputs, the chart, the status line). */
  const $ = (id) => document.getElementById(id);
  let state = { order: [], deps: {}, results: {}, totalMs: 0 };

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (parent) parent.appendChild(node);
    return node;
  }

  function setStatus(text, kind) {
    $("status").textContent = text;
    $("status").dataset.state = kind;
  }

  function draw() {
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
    for (const tick of layout.ticks) {
      el("line", { class: "tick", x1: tick.x, x2: tick.x, y1: 16, y2: layout.height }, svg);
      el("text", { class: "tick", x: tick.x + 2, y: 12 }, svg).textContent = `${tick.ms} ms`;
    }
    const rows = [...state.order];
    for (const id of Object.keys(state.results)) if (!rows.includes(id)) rows.push(id);
    rows.forEach((id, row) => {
      const label = el("text", { x: 4, y: 24 + row * 26 + 17, class: state.results[id] ? "label" : "label pending" }, svg);
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
      const group = el("g", { class: "step" }, svg);
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
      if (bar.attempts > 1) {
        el("text", { class: "mark retry", x, y: bar.y + 12 }, group).textContent = `\u21bb${bar.attempts}`;
        x += 26;
      }
      if (bar.hedged) el("text", { class: "mark hedge", x, y: bar.y + 12 }, group).textContent = "\u00bbhedged";
    }
  }

  function reset(order, deps) {
    state = { order, deps, results: {}, totalMs: 0 };
    draw();
  }

  function keyHeader() {
    return `Bearer ${$("key").value.trim()}`;
  }

  async function problemText(res) {
    const text = await res.text();
    try {
      const problem = JSON.parse(text);
      return `${res.status} ${problem.title || ""}: ${problem.detail || text}`;
    } catch {
      return `${res.status}: ${text.slice(0, 500)}`;
    }
  }

  async function runBatch() {
    const text = $("batch").value;
    let batch;
    try {
      batch = JSON.parse(text);
    } catch (error) {
      setStatus(`The batch is not JSON: ${error.message}`, "error");
      return;
    }
    history.replaceState(null, "", `#batch=${encodeURIComponent(JSON.stringify(batch))}`);
    reset(kit.stepIds(batch), kit.dependencies(batch));
    setStatus("running\u2026", "running");
    const started = performance.now();
    try {
      const res = await fetch("/v1/batch", {
        method: "POST",
        headers: { authorization: keyHeader(), "content-type": "application/json", accept: "application/x-ndjson" },
        body: JSON.stringify(batch),
      });
      if (!res.ok || !res.body) {
        setStatus(await problemText(res), "error");
        return;
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (value) buffered += value;
        for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (!line) continue;
          const event = JSON.parse(line);
          if (event.type === "result") {
            state.results[event.id] = event;
            setStatus(
              "running\u2026 " +
                Object.keys(state.results).length +
                "/" +
                state.order.length +
                " settled after " +
                Math.round(performance.now() - started) +
                " ms",
              "running",
            );
            draw();
          } else if (event.type === "summary") {
            state.totalMs = event.durationMs;
            const c = event.counts;
            setStatus(
              "completed: " +
                event.completed +
                ", mode " +
                event.mode +
                ", " +
                event.durationMs +
                " ms; ok " +
                c.ok +
                ", failed " +
                c.failed +
                ", skipped " +
                c.skipped +
                ", cancelled " +
                c.cancelled,
              "done",
            );
            draw();
          }
        }
        if (done) break;
      }
    } catch (error) {
      setStatus(`The request failed: ${error.message}`, "error");
    }
  }

  async function runComposite() {
    const url = new URL($("composite").value.trim() || "/v1/c/home?user=1", location.origin);
    if (url.origin !== location.origin) {
      setStatus("Give a path on this server, like /v1/c/home?user=1", "error");
      return;
    }
    history.replaceState(null, "", `#composite=${encodeURIComponent(url.pathname + url.search)}`);
    url.searchParams.set("debug", "1");
    reset([], {});
    setStatus("running\u2026", "running");
    try {
      const res = await fetch(url, { headers: { authorization: keyHeader() } });
      if (!res.ok) {
        setStatus(await problemText(res), "error");
        return;
      }
      const envelope = await res.json();
      const results = {};
      for (const [id, result] of Object.entries(envelope.results || {})) results[id] = { id, ...result };
      state = { order: Object.keys(results), deps: {}, results, totalMs: envelope.durationMs || 0 };
      setStatus(
        "composite " +
          envelope.composite +
          ": completed " +
          envelope.completed +
          ", " +
          envelope.durationMs +
          " ms (steps and timings from ?debug=1)",
        "done",
      );
      draw();
    } catch (error) {
      setStatus(`The request failed: ${error.message}`, "error");
    }
  }

  function load() {
    const select = $("example");
    for (const [name, example] of Object.entries(EXAMPLES)) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = example.label;
      select.appendChild(option);
    }
    const show = (batch) => {
      $("batch").value = JSON.stringify(batch, null, 2);
      try {
        reset(kit.stepIds(batch), kit.dependencies(batch));
      } catch {
        reset([], {});
      }
    };
    select.addEventListener("change", () => {
      show(EXAMPLES[select.value].batch);
      history.replaceState(null, "", `#batch=${encodeURIComponent(JSON.stringify(EXAMPLES[select.value].batch))}`);
    });
    $("run").addEventListener("click", runBatch);
    $("run-composite").addEventListener("click", runComposite);
    const hash = location.hash.slice(1);
    let batch = EXAMPLES.quickstart.batch;
    if (hash.startsWith("batch=")) {
      try {
        batch = JSON.parse(decodeURIComponent(hash.slice(6)));
      } catch {
        setStatus("The batch in the URL is not JSON; showing the quickstart", "error");
      }
    } else if (hash.startsWith("composite=")) {
      $("composite").value = decodeURIComponent(hash.slice(10));
    }
    show(batch);
    addEventListener("resize", draw);
  }

  load();
}
