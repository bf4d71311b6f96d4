import type { Context } from "hono";
import type { AppEnv } from "../http/env";
import { createRouter } from "../http/router";
import { docsHtml } from "../pages/docs-page";
import { playgroundHtml } from "../pages/playground-page";

/**
 * GET /docs (the API reference, rendered from /openapi.json) and GET /playground (run a batch or a
 * composite, watch its waterfall). Both are one HTML answer with inline script and style, nothing
 * loaded from elsewhere; they are pages, not API operations, so they are not in /openapi.json.
 */

/**
 * A Content-Security-Policy for these pages only: their own inline script and style (by a nonce
 * fresh per answer), fetches to this origin, nothing else. Other routes keep the global headers.
 */
function page(c: Context<AppEnv>, render: (nonce: string) => string): Response {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const nonce = btoa(String.fromCharCode(...bytes));
  return c.html(render(nonce), 200, {
    "content-security-policy": [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      `style-src 'nonce-${nonce}'`,
      "connect-src 'self'",
      "img-src 'self' data:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
    "cache-control": "no-store",
  });
}

const docs = createRouter();

docs.get("/docs", (c) => page(c, docsHtml));
docs.get("/playground", (c) => page(c, playgroundHtml));

export default docs;
