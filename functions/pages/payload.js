/**
 * The playground's payload panel, under the chart: each settled step's body or error, in batch order
 * (clicking a bar or a row opens its entry), and for a composite the document a client gets with its
 * headers. Everything is set as text, never parsed as HTML. The page inlines this function's own
 * source (functions/pages/playground-page.ts), so it is self-contained: only the browser's globals.
 *
 * @returns {PayloadView}
 * @typedef {{ id: string, ok: boolean, status?: number, durationMs?: number, attempts?: number, hedged?: boolean, coalesced?: boolean, body?: unknown, error?: { code: string, message: string, dependency?: string } }} StepPayload
 * @typedef {{ clear(): void, step(id: string, result: StepPayload, order: string[]): void, select(id: string): void, composite(request: string, res: { status: number, headers: Headers }, text: string): void }} PayloadView
 */
export function payloadView() {
  /** A body shown at most this long (a large one is cut, with how much was left out). */
  const MAX_CHARS = 20_000;
  /** The answer headers a composite's client reads. */
  const HEADERS = ["Cache-Status", "fanout-incomplete", "Cache-Control", "ETag", "Age"];
  /** @type {(id: string) => any} The panel's own elements, by id. */
  const $ = (id) => document.getElementById(id);
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    for (const child of children) if (child !== undefined && child !== null && child !== "") node.append(child);
    return node;
  }
  /** A body as text: JSON pretty-printed, a string as it is, cut at MAX_CHARS. */
  function shown(body) {
    const text = typeof body === "string" ? body : JSON.stringify(body, null, 2);
    if (text === undefined) return "(no body)";
    return text.length > MAX_CHARS ? `${text.slice(0, MAX_CHARS)}\n\u2026 (${text.length - MAX_CHARS} more characters)` : text;
  }
  const entries = () => /** @type {HTMLElement[]} */ ([...$("steps").children]);

  /** @type {PayloadView} */
  const view = {
    clear() {
      $("steps").replaceChildren();
      $("document").replaceChildren();
      $("document").hidden = true;
    },

    step(id, result, order) {
      const error = result.error;
      // As the chart colours it; a failure is named by its error code.
      const kind = result.ok
        ? result.coalesced
          ? "coalesced"
          : "ok"
        : error?.code === "skipped" || error?.code === "cancelled"
          ? error.code
          : "failed";
      const facts = [
        result.status === undefined ? "" : `status ${result.status}`,
        result.durationMs === undefined ? "" : `${result.durationMs} ms`,
        (result.attempts ?? 1) > 1 ? `${result.attempts} attempts` : "",
        result.hedged ? "hedged" : "",
      ].filter(Boolean);
      const entry = h(
        "details",
        { class: "step", "data-step": id, "data-outcome": kind },
        h(
          "summary",
          {},
          h("code", {}, id),
          " ",
          h("span", { class: `tag o-${kind}` }, kind === "failed" ? (error?.code ?? "failed") : kind),
          error ? ` ${error.message}` : "",
          facts.length > 0 ? h("span", { class: "muted" }, ` \u00b7 ${facts.join(" \u00b7 ")}`) : "",
        ),
      );
      if (error) {
        const dependency = error.dependency ? ` (dependency: ${error.dependency})` : "";
        entry.append(h("div", { class: "error" }, `error ${error.code}: ${error.message}${dependency}`));
      }
      if (result.body !== undefined || !error) entry.append(h("pre", { class: "body" }, shown(result.body)));
      const old = entries().find((node) => node.dataset.step === id);
      if (old) {
        old.replaceWith(entry);
        return;
      }
      // In batch order; steps not in it (a composite's) after, as they came.
      const rank = (step) => (order.includes(step) ? order.indexOf(step) : order.length);
      const next = entries().find((node) => rank(node.dataset.step) > rank(id));
      $("steps").insertBefore(entry, next || null);
    },

    select(id) {
      for (const node of entries()) {
        const chosen = node.dataset.step === id;
        node.classList.toggle("selected", chosen);
        if (chosen) {
          /** @type {HTMLDetailsElement} */ (node).open = true;
          node.scrollIntoView({ block: "nearest" });
        }
      }
    },

    composite(request, res, text) {
      let body = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: shown as it came.
      }
      const rows = HEADERS.map((name) =>
        h(
          "tr",
          { "data-header": name.toLowerCase() },
          h("th", {}, name),
          h("td", {}, res.headers.get(name) ?? h("span", { class: "muted" }, "(not sent)")),
        ),
      );
      $("document").replaceChildren(
        h("h3", {}, `${request} \u2192 ${res.status}`, h("span", { class: "muted" }, " (the answer a client gets, without ?debug=1)")),
        h("table", { class: "headers" }, ...rows),
        h("pre", { class: "body", id: "document-body" }, shown(body)),
      );
      $("document").hidden = false;
    },
  };
  return view;
}
