/// <reference path="./text-modules.d.ts" />
import style from "./docs.css";
import template from "./docs.html";
import { docsApp } from "./docs.js";
import { markdownInline } from "./markdown.js";
import { compactCss, fillPage, inlineCall, inlineSource } from "./page";
import pageStyle from "./page.css";

/**
 * GET /docs: the API reference, rendered in the page from /openapi.json by a few lines of plain JS
 * (operations by tag, parameters, request bodies, responses, schemas; descriptions as inline
 * Markdown by markdown.js, passed in by its source too). Nothing is loaded from elsewhere, and the
 * Worker bundle grows by a few KiB, not by a documentation framework.
 */

const SCRIPT = `"use strict";\n${inlineCall(docsApp, inlineSource(markdownInline))};`;

const STYLE = compactCss(pageStyle + style);

/** The page, with the nonce its script and style need under its Content-Security-Policy. */
export function docsHtml(nonce: string): string {
  return fillPage(template, { NONCE: nonce, STYLE, SCRIPT });
}
