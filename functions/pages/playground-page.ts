import { pageHead } from "./docs-page";
import { PLAYGROUND_EXAMPLES } from "./playground-examples";
import { WATERFALL_SCRIPT } from "./waterfall";

/**
 * GET /playground: edit a batch, run it over the NDJSON stream, and watch the waterfall. Plain HTML
 * and JS, no framework, nothing loaded from elsewhere: it works offline against the local server.
 */

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1f24;background:#fafafa}
header{padding:10px 16px;background:#1b1f24;color:#fff;display:flex;gap:16px;align-items:baseline}
header a{color:#9cd}
main{display:grid;grid-template-columns:minmax(280px,34%) 1fr;gap:16px;padding:16px}
textarea{width:100%;height:340px;font:12px/1.4 ui-monospace,monospace;box-sizing:border-box}
label{display:block;margin:6px 0 2px;font-weight:600}
input,select{width:100%;box-sizing:border-box;padding:4px}
button{margin-top:8px;padding:6px 14px;font-weight:600}
#status{margin:8px 0;font-family:ui-monospace,monospace;white-space:pre-wrap}
#status[data-state=error]{color:#b42318}
#chart{background:#fff;border:1px solid #ddd;overflow-x:auto}
.legend span{display:inline-block;margin-right:12px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
.o-ok{fill:#2e9e5b;background:#2e9e5b}.o-failed{fill:#d0443e;background:#d0443e}
.o-skipped{fill:#a8adb3;background:#a8adb3}.o-cancelled{fill:#e8a33d;background:#e8a33d}
.o-coalesced{fill:#5b7bd5;background:#5b7bd5}
rect.critical{stroke:#1b1f24;stroke-width:2.5}
path.arrow{fill:none;stroke:#8a9199;stroke-width:1.2}path.arrow.critical{stroke:#1b1f24;stroke-width:2}
text{font:11px ui-monospace,monospace;fill:#1b1f24}text.pending{fill:#a8adb3}
line.tick{stroke:#eee}text.tick{fill:#6b7178}text.mark{font-weight:700}
`;

/** The page's own code; `kit` is the waterfall kit, EXAMPLES the examples above. */
const SCRIPT = String.raw`
const NS = "http://www.w3.org/2000/svg";
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
    width, left: 150, right: 90, top: 24, rowHeight: 26, barHeight: 16, minTotalMs: state.totalMs,
  });
  svg.setAttribute("width", layout.width);
  svg.setAttribute("height", layout.height);
  svg.setAttribute("viewBox", "0 0 " + layout.width + " " + layout.height);
  const defs = el("defs", {}, svg);
  for (const [id, color] of [["head", "#8a9199"], ["head-critical", "#1b1f24"]]) {
    const marker = el("marker", { id, viewBox: "0 0 8 8", refX: 8, refY: 4, markerWidth: 8, markerHeight: 8, markerUnits: "userSpaceOnUse", orient: "auto" }, defs);
    el("path", { d: "M0,0 L8,4 L0,8 z", fill: color }, marker);
  }
  for (const tick of layout.ticks) {
    el("line", { class: "tick", x1: tick.x, x2: tick.x, y1: 16, y2: layout.height }, svg);
    el("text", { class: "tick", x: tick.x + 2, y: 12 }, svg).textContent = tick.ms + " ms";
  }
  const rows = [...state.order];
  for (const id of Object.keys(state.results)) if (!rows.includes(id)) rows.push(id);
  rows.forEach((id, row) => {
    const label = el("text", { x: 4, y: 24 + row * 26 + 17, class: state.results[id] ? "label" : "label pending" }, svg);
    label.textContent = id.length > 18 ? id.slice(0, 17) + "\u2026" : id;
    if (!state.results[id]) el("text", { x: 150, y: 24 + row * 26 + 17, class: "pending", "data-pending": id }, svg).textContent = "pending\u2026";
  });
  for (const arrow of layout.arrows) {
    const mid = Math.max(arrow.x1, arrow.x2 - 12);
    el("path", {
      class: arrow.critical ? "arrow critical" : "arrow",
      d: "M" + arrow.x1 + "," + arrow.y1 + " L" + mid + "," + arrow.y1 + " L" + mid + "," + arrow.y2 + " L" + arrow.x2 + "," + arrow.y2,
      "marker-end": arrow.critical ? "url(#head-critical)" : "url(#head)",
      "data-from": arrow.from, "data-to": arrow.to,
    }, svg);
  }
  for (const bar of layout.bars) {
    const group = el("g", { class: "step" }, svg);
    const rect = el("rect", {
      class: "bar o-" + bar.outcome + (bar.critical ? " critical" : ""),
      x: bar.x, y: bar.y, width: bar.width, height: bar.height, rx: 2,
      "data-id": bar.id, "data-outcome": bar.outcome, "data-start": bar.startMs, "data-end": bar.endMs, "data-attempts": bar.attempts,
    }, group);
    el("title", {}, rect).textContent = bar.title;
    el("title", {}, group).textContent = bar.title;
    let x = bar.x + bar.width + 4;
    if (bar.attempts > 1) {
      el("text", { class: "mark retry", x, y: bar.y + 12 }, group).textContent = "\u21bb" + bar.attempts;
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
  return "Bearer " + $("key").value.trim();
}

async function problemText(res) {
  const text = await res.text();
  try {
    const problem = JSON.parse(text);
    return res.status + " " + (problem.title || "") + ": " + (problem.detail || text);
  } catch {
    return res.status + ": " + text.slice(0, 500);
  }
}

async function runBatch() {
  const text = $("batch").value;
  let batch;
  try {
    batch = JSON.parse(text);
  } catch (error) {
    setStatus("The batch is not JSON: " + error.message, "error");
    return;
  }
  history.replaceState(null, "", "#batch=" + encodeURIComponent(JSON.stringify(batch)));
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
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (!line) continue;
        const event = JSON.parse(line);
        if (event.type === "result") {
          state.results[event.id] = event;
          setStatus("running\u2026 " + Object.keys(state.results).length + "/" + state.order.length + " settled after " + Math.round(performance.now() - started) + " ms", "running");
          draw();
        } else if (event.type === "summary") {
          state.totalMs = event.durationMs;
          const c = event.counts;
          setStatus("completed: " + event.completed + ", mode " + event.mode + ", " + event.durationMs + " ms; ok " + c.ok + ", failed " + c.failed + ", skipped " + c.skipped + ", cancelled " + c.cancelled, "done");
          draw();
        }
      }
      if (done) break;
    }
  } catch (error) {
    setStatus("The request failed: " + error.message, "error");
  }
}

async function runComposite() {
  const url = new URL($("composite").value.trim() || "/v1/c/home?user=1", location.origin);
  if (url.origin !== location.origin) {
    setStatus("Give a path on this server, like /v1/c/home?user=1", "error");
    return;
  }
  history.replaceState(null, "", "#composite=" + encodeURIComponent(url.pathname + url.search));
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
    setStatus("composite " + envelope.composite + ": completed " + envelope.completed + ", " + envelope.durationMs + " ms (steps and timings from ?debug=1)", "done");
    draw();
  } catch (error) {
    setStatus("The request failed: " + error.message, "error");
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
    history.replaceState(null, "", "#batch=" + encodeURIComponent(JSON.stringify(EXAMPLES[select.value].batch)));
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
`;

/** The page, with the nonce its script and style need under its Content-Security-Policy. */
export function playgroundHtml(nonce: string): string {
  const examples = JSON.stringify(PLAYGROUND_EXAMPLES).replaceAll("<", "\\u003c");
  return `${pageHead("fanout playground", nonce, STYLE)}
<body>
<header><strong>fanout playground</strong><a href="/docs">API reference</a><a href="/openapi.json">openapi.json</a></header>
<main>
<section>
<label for="example">Example</label>
<select id="example"></select>
<label for="batch">Batch (POST /v1/batch)</label>
<textarea id="batch" spellcheck="false"></textarea>
<label for="key">API key</label>
<input id="key" value="fanout-local-demo-key" autocomplete="off" spellcheck="false">
<button id="run" type="button">Run batch</button>
<label for="composite">Composite (GET with ?debug=1, needs an admin key: fanout-local-admin-key locally)</label>
<input id="composite" value="/v1/c/home?user=1" spellcheck="false">
<button id="run-composite" type="button">Run composite</button>
</section>
<section>
<div class="legend"><span><i class="o-ok"></i>ok</span><span><i class="o-failed"></i>failed</span><span><i class="o-skipped"></i>skipped</span><span><i class="o-cancelled"></i>cancelled</span><span><i class="o-coalesced"></i>coalesced</span><span><b>\u21bbN</b>: N attempts</span><span><b>\u00bbhedged</b>: a hedge was sent</span><span><b>outlined</b>: critical path</span></div>
<div id="status" data-state="idle">Edit the batch and run it: each step's bar is drawn the moment it settles.</div>
<div id="chart"><svg id="waterfall" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="waterfall of the batch's steps"></svg></div>
</section>
</main>
<script nonce="${nonce}">
"use strict";
const kit = ${WATERFALL_SCRIPT};
const EXAMPLES = ${examples};
${SCRIPT}
</script>
</body>
</html>`;
}
