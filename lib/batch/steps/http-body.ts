import { toBase64 } from "../../base/bytes";
import { followPath, parsePickPath } from "../template";
import { parseStepJson } from "./json";

/** What an http step's result holds of the upstream's answer: the headers it may show, the body decoded by its type. */

const STRIPPED_RESPONSE_HEADERS = new Set(["set-cookie", "connection", "keep-alive", "transfer-encoding", "proxy-authenticate"]);

/** The upstream's headers a result shows: all but cookies and hop-by-hop ones. */
export function visibleHeaders(headers: Headers): Record<string, string> {
  const visible: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (!STRIPPED_RESPONSE_HEADERS.has(name)) visible[name] = value;
  });
  return visible;
}

// Stateless for one-shot decode() calls, so one per isolate serves every step.
const UTF8 = new TextDecoder();
const TEXTUAL = /^(text\/|application\/(xml|javascript|x-www-form-urlencoded))|\+xml/;

/** A body as the result shows it: JSON parsed (and picked), text as text, anything else as base64. */
export function decodeBody(body: Uint8Array, headers: Headers, picked: readonly string[] | undefined): unknown {
  if (body.byteLength === 0) return null;
  const type = headers.get("content-type") ?? "";
  const text = () => UTF8.decode(body);
  if (/json/.test(type)) {
    const decoded = text();
    const parsed = parseStepJson(decoded, "the upstream's JSON body");
    if (!parsed) return decoded;
    return picked ? pick(parsed.value, picked) : parsed.value;
  }
  if (TEXTUAL.test(type) || type === "") return text();
  return { base64: toBase64(body) };
}

/** Keeps only the given dot paths of a JSON value; paths that are absent are left out. */
export function pick(value: unknown, paths: readonly string[]): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const path of paths) {
    const segments = parsePickPath(path);
    try {
      picked[path] = followPath(value, segments, () => {
        throw new Error("absent");
      });
    } catch {
      // absent fields are simply not picked
    }
  }
  return picked;
}
