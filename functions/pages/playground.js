/**
 * The playground's page script: edit a batch, run it over the NDJSON stream, draw each step's bar the
 * moment it settles and list its body or error under the chart (a click on a bar or a row opens it);
 * or run a composite with ?debug=1 (an admin key) and show its document and headers. The page inlines
 * this function's own source (functions/pages/playground-page.ts), so it is self-contained: it uses
 * only its arguments and the browser's globals.
 *
 * @param {import("./waterfall").WaterfallKit} kit the waterfall kit (layout, dependencies, outcomes)
 * @param {import("./chart.js").ChartView} chart the waterfall's drawing (chart.js)
 * @param {import("./payload.js").PayloadView} view the payload panel (payload.js)
 * @param {Record<string, { label: string, batch: unknown }>} EXAMPLES the example batches
 */
export function playgroundApp(kit, chart, view, EXAMPLES) {
  /** @type {(id: string) => any} The page's own elements, by id (inputs, the chart, the status line). */
  const $ = (id) => document.getElementById(id);
  let state = { order: [], deps: {}, results: {}, totalMs: 0, selected: "" };

  function setStatus(text, kind) {
    $("status").textContent = text;
    $("status").dataset.state = kind;
  }

  const draw = () => chart.draw(state);

  /** A new run (or none): its rows pending, the previous run's bars and payload gone. */
  function reset(order, deps) {
    state = { order, deps, results: {}, totalMs: 0, selected: "" };
    view.clear();
    draw();
  }

  /** A run that did not happen (not JSON, a 400, a refused key): nothing of the previous one is left. */
  function failed(text) {
    reset([], {});
    setStatus(text, "error");
  }

  function settle(result) {
    state.results[result.id] = result;
    view.step(result.id, result, state.order);
  }

  function choose(id) {
    if (!state.results[id]) return;
    state.selected = id;
    view.select(id);
    draw();
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

  /** A composite's GET with the admin key field's key, past the browser's cache (each run asks the gateway). */
  const get = (path) => fetch(path, { headers: { authorization: `Bearer ${$("admin-key").value.trim()}` }, cache: "no-store" });

  /** Reads the NDJSON stream: each result drawn and listed as it settles, then the summary. */
  async function readStream(body, started) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
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
          settle(event);
          const settled = Object.keys(state.results).length;
          setStatus(
            `running\u2026 ${settled}/${state.order.length} settled after ${Math.round(performance.now() - started)} ms`,
            "running",
          );
          draw();
        } else if (event.type === "summary") {
          state.totalMs = event.durationMs;
          const c = event.counts;
          const counts = `ok ${c.ok}, failed ${c.failed}, skipped ${c.skipped}, cancelled ${c.cancelled}`;
          setStatus(`completed: ${event.completed}, mode ${event.mode}, ${event.durationMs} ms; ${counts}`, "done");
          draw();
        }
      }
      if (done) return;
    }
  }

  async function runBatch() {
    let batch;
    try {
      batch = JSON.parse($("batch").value);
    } catch (error) {
      failed(`The batch is not JSON: ${error.message}`);
      return;
    }
    history.replaceState(null, "", `#batch=${encodeURIComponent(JSON.stringify(batch))}`);
    reset(kit.stepIds(batch), kit.dependencies(batch));
    setStatus("running\u2026", "running");
    const started = performance.now();
    try {
      const res = await fetch("/v1/batch", {
        method: "POST",
        headers: { authorization: `Bearer ${$("key").value.trim()}`, "content-type": "application/json", accept: "application/x-ndjson" },
        body: JSON.stringify(batch),
      });
      if (!res.ok || !res.body) {
        failed(await problemText(res));
        return;
      }
      await readStream(res.body, started);
    } catch (error) {
      // What settled stays; rows still pending would never settle.
      state.order = state.order.filter((id) => state.results[id]);
      draw();
      setStatus(`The request failed: ${error.message}`, "error");
    }
  }

  async function runComposite() {
    const url = new URL($("composite").value.trim() || "/v1/c/home?user=1", location.origin);
    if (url.origin !== location.origin) {
      failed("Give a path on this server, like /v1/c/home?user=1");
      return;
    }
    const path = url.pathname + url.search;
    history.replaceState(null, "", `#composite=${encodeURIComponent(path)}`);
    url.searchParams.set("debug", "1");
    reset([], {});
    setStatus("running\u2026", "running");
    try {
      const res = await get(url.pathname + url.search);
      if (!res.ok) {
        failed(await problemText(res));
        return;
      }
      const envelope = await res.json();
      // The debug envelope has the steps, not the answer's headers (it bypasses the cache): those come
      // from the composite as a client calls it, without ?debug=1.
      const answer = await get(path);
      view.composite(`GET ${path}`, answer, await answer.text());
      const results = Object.entries(envelope.results || {});
      state.order = results.map(([id]) => id);
      for (const [id, result] of results) settle({ id, ...result });
      state.totalMs = envelope.durationMs || 0;
      const shaped = envelope.error
        ? `not shaped (${envelope.error.code})`
        : `incomplete: ${(envelope.incomplete || []).join(", ") || "none"}`;
      const timing = `${envelope.durationMs} ms (steps and timings from ?debug=1)`;
      setStatus(`composite ${envelope.composite}: completed ${envelope.completed}, ${shaped}, ${timing}`, "done");
      draw();
    } catch (error) {
      failed(`The request failed: ${error.message}`);
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
    // A click on a bar, a row or its label opens that step's payload.
    $("waterfall").addEventListener("click", (event) => choose(event.target.closest("[data-step]")?.dataset.step || ""));
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
