/**
 * GET /docs: the API reference, rendered in the page from /openapi.json by a few lines of plain JS
 * (operations by tag, parameters, request bodies, responses, schemas). Nothing is loaded from
 * elsewhere, and the Worker bundle grows by a few KiB, not by a documentation framework.
 */

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#fafafa}
header{padding:10px 16px;background:#1b1f24;color:#fff;display:flex;gap:16px;align-items:baseline}
header a{color:#9cd}
main{max-width:1100px;margin:0 auto;padding:8px 16px 40px}
nav a{margin-right:10px}
details.op{background:#fff;border:1px solid #ddd;border-radius:4px;margin:6px 0}
details.op>summary{cursor:pointer;padding:6px 10px;font-family:ui-monospace,monospace}
.method{display:inline-block;min-width:56px;font-weight:700;text-transform:uppercase}
.get{color:#1769aa}.post{color:#2e7d32}.put,.patch{color:#b26a00}.delete{color:#b42318}
.op .body{padding:4px 14px 10px}
table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #e3e3e3;padding:3px 8px;text-align:left;vertical-align:top}
pre{background:#f4f5f6;padding:8px;overflow:auto;font-size:12px;max-height:420px}
code{font-family:ui-monospace,monospace}
.muted{color:#6b7178}
`;

const SCRIPT = `
const $ = (id) => document.getElementById(id);
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) if (child !== undefined && child !== null) node.append(child);
  return node;
}
const pretty = (value) => JSON.stringify(value, null, 2);
function schemaName(schema) {
  if (!schema) return "";
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return h("a", { href: "#schema-" + name }, name);
  }
  if (schema.type === "array" && schema.items) {
    const inner = schemaName(schema.items);
    return h("span", {}, "array of ", inner);
  }
  return Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type || (schema.oneOf ? "one of " + schema.oneOf.length : schema.anyOf ? "any of " + schema.anyOf.length : "object");
}
function parameters(op, pathItem) {
  const list = [...(pathItem.parameters || []), ...(op.parameters || [])];
  if (list.length === 0) return null;
  const table = h("table", {}, h("tr", {}, h("th", {}, "name"), h("th", {}, "in"), h("th", {}, "type"), h("th", {}, "required"), h("th", {}, "description")));
  for (const p of list) {
    table.append(h("tr", {}, h("td", {}, h("code", {}, p.name)), h("td", {}, p.in), h("td", {}, schemaName(p.schema)), h("td", {}, p.required ? "yes" : ""), h("td", {}, p.description || "")));
  }
  return h("div", {}, h("h4", {}, "Parameters"), table);
}
function content(title, body) {
  if (!body || !body.content) return null;
  const box = h("div", {}, h("h4", {}, title));
  if (body.description) box.append(h("p", {}, body.description));
  for (const [type, media] of Object.entries(body.content)) {
    box.append(h("div", {}, h("code", {}, type), " ", schemaName(media.schema)));
    if (media.schema && !media.schema.$ref) box.append(h("pre", {}, pretty(media.schema)));
  }
  return box;
}
function operation(path, method, op, pathItem) {
  const body = h("div", { class: "body" });
  if (op.description) body.append(h("p", {}, op.description));
  if (op.security && op.security.length === 0) body.append(h("p", { class: "muted" }, "Public: no API key."));
  else if (op.security) body.append(h("p", { class: "muted" }, "Authorization: Bearer <API key>"));
  body.append(parameters(op, pathItem) || "");
  body.append(content("Request body", op.requestBody) || "");
  const responses = h("div", {}, h("h4", {}, "Responses"));
  for (const [status, response] of Object.entries(op.responses || {})) {
    const item = h("div", {}, h("strong", {}, status), " ", response.description || "");
    for (const [type, media] of Object.entries(response.content || {})) item.append(h("div", { class: "muted" }, h("code", {}, type), " ", schemaName(media.schema)));
    responses.append(item);
  }
  body.append(responses);
  return h("details", { class: "op", id: op.operationId || method + path },
    h("summary", {}, h("span", { class: "method " + method }, method), " ", h("code", {}, path), " ", h("span", { class: "muted" }, op.summary || "")),
    body);
}
async function load() {
  const res = await fetch("/openapi.json");
  const doc = await res.json();
  $("title").textContent = doc.info.title + " " + doc.info.version;
  $("description").textContent = doc.info.description || "";
  const groups = new Map();
  for (const [path, pathItem] of Object.entries(doc.paths || {})) {
    for (const method of ["get", "put", "post", "delete", "patch", "head", "options"]) {
      const op = pathItem[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || "other";
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push(operation(path, method, op, pathItem));
    }
  }
  const ops = $("operations");
  for (const [tag, items] of groups) {
    $("nav").append(h("a", { href: "#tag-" + tag }, tag));
    ops.append(h("h2", { id: "tag-" + tag }, tag), ...items);
  }
  const schemas = $("schemas");
  for (const [name, schema] of Object.entries((doc.components && doc.components.schemas) || {})) {
    schemas.append(h("details", { class: "op", id: "schema-" + name }, h("summary", {}, h("code", {}, name)), h("pre", {}, pretty(schema))));
  }
  document.body.dataset.loaded = "true";
}
load().catch((error) => {
  $("operations").textContent = "Could not load /openapi.json: " + error.message;
});
`;

/** The start of both pages: no icon request, one nonce'd style element (their CSP allows nothing else). */
export function pageHead(title: string, nonce: string, style: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${title}</title>
<style nonce="${nonce}">${style}</style>
</head>`;
}

export function docsHtml(nonce: string): string {
  return `${pageHead("fanout API reference", nonce, STYLE)}
<body>
<header><strong>fanout API reference</strong><a href="/openapi.json">openapi.json</a><a href="/playground">playground</a></header>
<main>
<h1 id="title">fanout</h1>
<p id="description"></p>
<nav id="nav"></nav>
<div id="operations"></div>
<h2>Schemas</h2>
<div id="schemas"></div>
</main>
<script nonce="${nonce}">
"use strict";
${SCRIPT}
</script>
</body>
</html>`;
}
