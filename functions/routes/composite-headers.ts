import type { CompositeDefinition } from "../../lib/composite/definition";

/** The response headers a composite's 200 (and its 304) carries, as /openapi.json documents them. */

const text = (description: string) => ({ description, schema: { type: "string" as const } });

const ANSWER_HEADERS = {
  ETag: text("A strong validator of the document; send it back as If-None-Match for a 304"),
  "Cache-Control": text(
    "The composite's cache policy: no-store for a partial answer, and for one with fallbacks unless its fallbackTtlSeconds caches it (never stale)",
  ),
  "Cache-Status": text("RFC 9211: hit (with ttl; stale within the SWR window) or fwd=uri-miss"),
  "fanout-incomplete": text("Optional steps left out of the document, comma-separated"),
  "fanout-fallback": text("Optional steps that failed and whose fallback data stands in, comma-separated"),
  Vary: text("Every request header the answer depends on: the headers its steps read, and Origin (CORS)"),
};

/** Every answer header of `definition`'s 200: the common ones and each upstream header it forwards (`forwardHeaders`), naming its step. */
export function answerHeadersOf(definition: CompositeDefinition) {
  const forwarded = Object.entries(definition.forwardHeaders ?? {}).map(([name, step]) => [
    name,
    text(`Forwarded from the upstream answer of step "${step}", when that step succeeded`),
  ]);
  return { ...ANSWER_HEADERS, ...Object.fromEntries(forwarded) };
}
