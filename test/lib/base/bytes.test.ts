import { describe, expect, it } from "vitest";
import { sha256Hex, toBase64, toHex } from "../../../lib/base/bytes";

describe("bytes", () => {
  it("toHex gives two lower-case digits per byte, every byte value", () => {
    expect(toHex(new Uint8Array([0, 1, 15, 16, 127, 128, 254, 255]))).toBe("00010f107f80feff");
    expect(toHex(new Uint8Array())).toBe("");
    const all = Uint8Array.from({ length: 256 }, (_, byte) => byte);
    expect(toHex(all)).toBe(Array.from(all, (byte) => byte.toString(16).padStart(2, "0")).join(""));
  });

  it("sha256Hex and toBase64 agree with known values", async () => {
    expect(await sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(toBase64(new TextEncoder().encode("fanout"))).toBe("ZmFub3V0");
  });
});
