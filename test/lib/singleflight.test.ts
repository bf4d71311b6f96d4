import { describe, expect, it, vi } from "vitest";
import { Singleflight } from "../../lib/singleflight";

describe("Singleflight", () => {
  it("runs identical concurrent calls once and marks the later ones as shared", async () => {
    const group = new Singleflight<number>();
    const fn = vi.fn(() => new Promise<number>((resolve) => setTimeout(() => resolve(42), 5)));
    const results = await Promise.all([group.do("GET a", fn), group.do("GET a", fn), group.do("GET b", fn)]);
    expect(fn).toHaveBeenCalledTimes(2);
    expect(results).toEqual([
      { value: 42, shared: false },
      { value: 42, shared: true },
      { value: 42, shared: false },
    ]);
  });

  it("shares a failure with every caller", async () => {
    const group = new Singleflight<number>();
    const fn = vi.fn(() => Promise.reject(new Error("down")));
    const outcomes = await Promise.allSettled([group.do("k", fn), group.do("k", fn)]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["rejected", "rejected"]);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("is per instance: two requests never share an execution", async () => {
    const fn = vi.fn(async () => 1);
    await new Singleflight<number>().do("k", fn);
    await new Singleflight<number>().do("k", fn);
    expect(fn).toHaveBeenCalledTimes(2);
  });
});
