import { FanoutError } from "../../base/errors";

/**
 * JSON read by a step (an upstream body, a KV or R2 value, a cached body). A result nested deeper
 * than MAX_RESULT_DEPTH is refused: it could not be written into the answer (or into a reference)
 * without running out of stack, and no real API nests that deep.
 */
export const MAX_RESULT_DEPTH = 256;

/** Whether JSON text nests deeper than `max` (brackets outside strings), in one pass without recursion. */
export function jsonTextDeeperThan(text: string, max: number): boolean {
  if (text.length <= max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c)
        i++; // a backslash escapes the next character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x5b || char === 0x7b) {
      if (++depth > max) return true;
    } else if (char === 0x5d || char === 0x7d) depth--;
  }
  return false;
}

/**
 * Parses a step's JSON text.
 * @returns the value, or `undefined` when the text is not JSON (the caller decides what that means).
 * @throws FanoutError `response_too_large` when it nests deeper than MAX_RESULT_DEPTH, naming `what`.
 */
export function parseStepJson(text: string, what: string): { value: unknown } | undefined {
  if (jsonTextDeeperThan(text, MAX_RESULT_DEPTH)) {
    throw new FanoutError("response_too_large", `${what} nests deeper than ${MAX_RESULT_DEPTH} levels, the limit for a step's JSON`);
  }
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}
