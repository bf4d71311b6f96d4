/** Lowercase hex of a byte array. */
export function toHex(bytes: Uint8Array): string {
  // A table and a loop: this runs per upstream call (every span id), no array or closure per byte.
  let hex = "";
  for (const byte of bytes) hex += HEX_PAIRS[byte];
  return hex;
}

const HEX_PAIRS: readonly string[] = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

/** Base64 of a byte array, in chunks (spreading a large array into fromCharCode overflows the stack). */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let offset = 0; offset < bytes.byteLength; offset += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(offset, offset + 0x8000));
  }
  return btoa(binary);
}

const encoder = new TextEncoder();

/** The SHA-256 digest of a UTF-8 string, as bytes. */
export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** The SHA-256 digest of a UTF-8 string, as lowercase hex. */
export async function sha256Hex(text: string): Promise<string> {
  return toHex(await sha256(text));
}
