import { describe, expect, it, vi } from "vitest";
import { Singleflight } from "../../../lib/async/singleflight";

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

describe("Singleflight is in flight only", () => {
  it("a call that starts after the first settled runs again (and is not marked shared)", async () => {
    const group = new Singleflight<number>();
    let calls = 0;
    const fn = vi.fn(async () => ++calls);
    expect(await group.do("GET /x", fn)).toEqual({ value: 1, shared: false });
    expect(group.size).toBe(0);
    expect(await group.do("GET /x", fn)).toEqual({ value: 2, shared: false });
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it("forgets a failed execution too, so the next call retries it", async () => {
    const group = new Singleflight<number>();
    const fn = vi.fn().mockRejectedValueOnce(new Error("down")).mockResolvedValueOnce(7);
    await expect(group.do("k", fn)).rejects.toThrow("down");
    expect(await group.do("k", fn)).toEqual({ value: 7, shared: false });
  });
});
