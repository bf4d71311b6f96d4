/// <reference path="./text-modules.d.ts" />
import { REFERENCE_GRAMMAR } from "../../lib/batch/template";
import { chartView } from "./chart.js";
import { compactCss, fillPage, inlineCall, scriptJson } from "./page";
import pageStyle from "./page.css";
import { payloadView } from "./payload.js";
import style from "./playground.css";
import template from "./playground.html";
import { playgroundApp } from "./playground.js";
import { PLAYGROUND_EXAMPLES } from "./playground-examples";
import { waterfallKit } from "./waterfall";

/**
 * GET /playground: edit a batch, run it over the NDJSON stream, watch the waterfall and read each
 * step's body or error; or run a composite (an admin's ?debug=1) and read its document and headers.
 * Plain HTML and JS, no framework, nothing loaded from elsewhere: it works offline against the local server.
 */

/**
 * The page's script: the waterfall kit (with lib/'s reference grammar), then the page's own code,
 * given the chart's drawing (chart.js) and the payload panel (payload.js).
 */
export const PLAYGROUND_SCRIPT = `"use strict";
const kit = ${inlineCall(waterfallKit, scriptJson(REFERENCE_GRAMMAR))};
${inlineCall(playgroundApp, "kit", inlineCall(chartView, "kit"), inlineCall(payloadView), scriptJson(PLAYGROUND_EXAMPLES))};`;

const STYLE = compactCss(pageStyle + style);

/** The page, with the nonce its script and style need under its Content-Security-Policy. */
export function playgroundHtml(nonce: string): string {
  return fillPage(template, { NONCE: nonce, STYLE, SCRIPT: PLAYGROUND_SCRIPT });
}
