/**
 * The API reference's page script: renders /openapi.json (operations by tag, parameters, request
 * bodies, responses, schemas) with a few lines of DOM code: descriptions as inline Markdown, `$ref`s
 * resolved, request and answer schemas as trees of their fields. The page inlines this function's
 * own source (functions/pages/docs-page.ts), so it is self-contained: its argument and the browser's globals.
 *
 * @param {typeof import("./markdown.js").markdownInline} markdown the Markdown tokenizer (markdown.js)
 */
export function docsApp(markdown) {
  /** How deep a schema's fields are shown (a deeper or recursive field is a link to its schema). */
  const MAX_DEPTH = 4;
  /** @type {(id: string) => any} The page's own elements, by id. */
  const $ = (id) => document.getElementById(id);
  /** @type {any} The OpenAPI document, once loaded. */
  let doc = {};
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    for (const child of children) if (child !== undefined && child !== null) node.append(child);
    return node;
  }
  const pretty = (value) => JSON.stringify(value, null, 2);
  /** @type {(tokens: import("./markdown.js").MarkdownToken[]) => (Node | string)[]} Tokens as nodes: text only ever as text. */
  const nodes = (tokens) =>
    tokens.map((token) =>
      "code" in token
        ? h("code", {}, token.code)
        : "strong" in token
          ? h("strong", {}, ...nodes(token.strong))
          : "href" in token
            ? h("a", { href: token.href }, token.link)
            : "br" in token
              ? h("br")
              : token.text,
    );
  const md = (text) => h("span", { class: "md" }, ...nodes(markdown(text)));
  /** A local `$ref` (`#/components/...`) followed to what it names; anything else as it is. */
  function resolve(value) {
    let node = value;
    for (let hops = 0; hops < 16 && typeof node?.$ref === "string" && node.$ref.startsWith("#/"); hops++) {
      let target = doc;
      for (const part of node.$ref.slice(2).split("/")) target = target?.[part.replaceAll("~1", "/").replaceAll("~0", "~")];
      if (target === undefined) return node;
      node = target;
    }
    return node;
  }
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
    if (Array.isArray(schema.type)) return schema.type.join(" | ");
    if (schema.type) return schema.type === "object" && !schema.properties ? "object (any fields)" : schema.type;
    return schema.oneOf ? `one of ${schema.oneOf.length}` : schema.anyOf ? `any of ${schema.anyOf.length}` : "object";
  }
  /** One field of a schema tree: name, type, required, allowed values, description, then its own fields. */
  function field(name, schema, required, depth, seen) {
    const resolved = resolve(schema) || {};
    const item = h("li", {}, h("code", {}, name), " ", schemaName(schema));
    if (required) item.append(h("span", { class: "muted" }, " required"));
    if (Array.isArray(resolved.enum)) item.append(` (${resolved.enum.map((value) => JSON.stringify(value)).join(", ")})`);
    if (resolved.description) item.append(" \u2014 ", md(resolved.description));
    item.append(schemaTree(schema, depth + 1, seen) || "");
    return item;
  }
  /** The fields of a schema (properties, other names, array items, variants), `$ref`s resolved, to MAX_DEPTH. */
  function schemaTree(schema, depth, seen) {
    const resolved = resolve(schema);
    if (!resolved || typeof resolved !== "object" || depth > MAX_DEPTH || seen.includes(schema.$ref)) return null;
    const inside = schema.$ref ? [...seen, schema.$ref] : seen;
    if (resolved.type === "array" && resolved.items) return schemaTree(resolved.items, depth, inside);
    const required = Array.isArray(resolved.required) ? resolved.required : [];
    const items = Object.entries(resolved.properties || {}).map(([name, inner]) =>
      field(name, inner, required.includes(name), depth, inside),
    );
    const other = resolved.additionalProperties;
    if (other && typeof other === "object" && Object.keys(other).length > 0) items.push(field("(any name)", other, false, depth, inside));
    for (const kind of ["oneOf", "anyOf", "allOf"])
      for (const [index, variant] of (resolved[kind] || []).entries())
        items.push(field(`${kind}[${index}]`, variant, false, depth, inside));
    return items.length > 0 ? h("ul", { class: "schema" }, ...items) : null;
  }
  /** A body's or answer's fields: open when a few, else one click away. */
  function fields(schema) {
    const tree = schema ? schemaTree(schema, 1, []) : null;
    if (!tree) return "";
    const count = tree.querySelectorAll("li").length;
    return h("details", { class: "fields", ...(count <= 40 ? { open: "" } : {}) }, h("summary", {}, `${count} fields`), tree);
  }
  function parameters(op, pathItem) {
    const list = [...(pathItem.parameters || []), ...(op.parameters || [])].map(resolve);
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
          h("td", {}, md(p.description)),
        ),
      );
    }
    return h("div", {}, h("h4", {}, "Parameters"), table);
  }
  function content(title, body) {
    if (!body?.content) return null;
    const box = h("div", {}, h("h4", {}, title));
    if (body.description) box.append(h("p", {}, md(body.description)));
    for (const [type, media] of Object.entries(body.content)) {
      box.append(h("div", {}, h("code", {}, type), " ", schemaName(media.schema)));
      box.append(fields(media.schema));
    }
    return box;
  }
  function operation(path, method, op, pathItem) {
    const body = h("div", { class: "body" });
    if (op.description) body.append(h("p", {}, md(op.description)));
    if (op.security && op.security.length === 0) body.append(h("p", { class: "muted" }, "Public: no API key."));
    else if (op.security) body.append(h("p", { class: "muted" }, "Authorization: Bearer <API key>"));
    body.append(parameters(op, pathItem) || "");
    body.append(content("Request body", op.requestBody) || "");
    const responses = h("div", {}, h("h4", {}, "Responses"));
    for (const [status, answer] of Object.entries(op.responses || {})) {
      const response = resolve(answer);
      const item = h("div", { class: "response", "data-status": status }, h("strong", {}, status), " ", md(response.description));
      for (const [type, media] of Object.entries(response.content || {})) {
        item.append(h("div", { class: "muted" }, h("code", {}, type), " ", schemaName(media.schema)));
        // A successful answer's fields; an error's schema (Problem) is one link away.
        if (status.startsWith("2")) item.append(fields(media.schema));
      }
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
        h("span", { class: "muted" }, md(op.summary)),
      ),
      body,
    );
  }
  async function load() {
    const res = await fetch("/openapi.json");
    doc = await res.json();
    $("title").textContent = `${doc.info.title} ${doc.info.version}`;
    $("description").replaceChildren(md(doc.info.description));
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
