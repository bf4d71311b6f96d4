import { toHex } from "./bytes";

/** W3C trace context: keep the caller's trace id, give every upstream call a span id of its own. */

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

function randomHex(bytes: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

export interface Trace {
  traceId: string;
  flags: string;
  /** A traceparent for one outgoing call, with a fresh span id. */
  child(): string;
}

/** Continues the caller's `traceparent` (a valid one), or starts a new trace. */
export function continueTrace(incoming: string | null | undefined): Trace {
  const match = incoming ? TRACEPARENT.exec(incoming.trim().toLowerCase()) : null;
  const traceId = match && !/^0+$/.test(match[1]!) ? match[1]! : randomHex(16);
  const flags = match?.[3] ?? "01";
  return { traceId, flags, child: () => `00-${traceId}-${randomHex(8)}-${flags}` };
}
