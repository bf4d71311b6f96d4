/**
 * The API reference's page script: renders /openapi.json (operations by tag, parameters, request
 * bodies, responses, schemas) with a few lines of DOM code. The page inlines this function's own
 * source (functions/pages/docs-page.ts), so it is self-contained: only the browser's globals.
 */
export function docsApp() {
  /** @type {(id: string) => any} The page's own elements, by id (inputs, the chart, the status line). */
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
      return h("a", { href: `#schema-${name}` }, name);
    }
    if (schema.type === "array" && schema.items) {
      const inner = schemaName(schema.items);
      return h("span", {}, "array of ", inner);
    }
    return Array.isArray(schema.type)
      ? schema.type.join(" | ")
      : schema.type || (schema.oneOf ? `one of ${schema.oneOf.length}` : schema.anyOf ? `any of ${schema.anyOf.length}` : "object");
  }
  function parameters(op, pathItem) {
    const list = [...(pathItem.parameters || []), ...(op.parameters || [])];
    if (list.length === 0) return null;
    const table = h(
      "table",
      {},
      h("tr", {}, h("th", {}, "name"), h("th", {}, "in"), h("th", {}, "type"), h("th", {}, "required"), h("th", {}, "description")),
    );
    for (const p of list) {
      table.append(
        h(
          "tr",
          {},
          h("td", {}, h("code", {}, p.name)),
          h("td", {}, p.in),
          h("td", {}, schemaName(p.schema)),
          h("td", {}, p.required ? "yes" : ""),
          h("td", {}, p.description || ""),
        ),
      );
    }
    return h("div", {}, h("h4", {}, "Parameters"), table);
  }
  function content(title, body) {
    if (!body?.content) return null;
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
      for (const [type, media] of Object.entries(response.content || {}))
        item.append(h("div", { class: "muted" }, h("code", {}, type), " ", schemaName(media.schema)));
      responses.append(item);
    }
    body.append(responses);
    return h(
      "details",
      { class: "op", id: op.operationId || method + path },
      h(
        "summary",
        {},
        h("span", { class: `method ${method}` }, method),
        " ",
        h("code", {}, path),
        " ",
        h("span", { class: "muted" }, op.summary || ""),
      ),
      body,
    );
  }
  async function load() {
    const res = await fetch("/openapi.json");
    const doc = await res.json();
    $("title").textContent = `${doc.info.title} ${doc.info.version}`;
    $("description").textContent = doc.info.description || "";
    const groups = new Map();
    for (const [path, pathItem] of Object.entries(doc.paths || {})) {
      for (const method of ["get", "put", "post", "delete", "patch", "head", "options"]) {
        const op = pathItem[method];
        if (!op) continue;
        const tag = op.tags?.[0] || "other";
        if (!groups.has(tag)) groups.set(tag, []);
        groups.get(tag).push(operation(path, method, op, pathItem));
      }
    }
    const ops = $("operations");
    for (const [tag, items] of groups) {
      $("nav").append(h("a", { href: `#tag-${tag}` }, tag));
      ops.append(h("h2", { id: `tag-${tag}` }, tag), ...items);
    }
    const schemas = $("schemas");
    for (const [name, schema] of Object.entries(doc.components?.schemas || {})) {
      schemas.append(
        h("details", { class: "op", id: `schema-${name}` }, h("summary", {}, h("code", {}, name)), h("pre", {}, pretty(schema))),
      );
    }
    document.body.dataset.loaded = "true";
  }
  load().catch((error) => {
    $("operations").textContent = `Could not load /openapi.json: ${error.message}`;
  });
}
