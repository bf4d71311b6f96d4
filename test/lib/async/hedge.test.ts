import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { hedge } from "../../../lib/async/hedge";
import { sleep } from "../../../lib/async/timers";
import { FanoutError } from "../../../lib/base/errors";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("hedge", () => {
  it("does not hedge when the first attempt answers in time", async () => {
    const task = vi.fn((signal: AbortSignal) => sleep(50, { signal }).then(() => "first"));
    const result = hedge(task, { afterMs: 100 });
    await vi.advanceTimersByTimeAsync(50);
    await expect(result).resolves.toEqual({ value: "first", hedged: false, winner: 1 });
    expect(task).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("starts a second attempt after afterMs; the faster wins and the loser is aborted", async () => {
    const signals: AbortSignal[] = [];
    const result = hedge(
      (signal, attempt) => {
        signals.push(signal);
        return sleep(attempt === 1 ? 1000 : 20, { signal }).then(() => `attempt ${attempt}`);
      },
      { afterMs: 100 },
    );
    await vi.advanceTimersByTimeAsync(120);
    await expect(result).resolves.toEqual({ value: "attempt 2", hedged: true, winner: 2 });
    expect(signals).toHaveLength(2);
    expect(signals[0]!.aborted).toBe(true);
    expect(signals[0]!.reason).toMatchObject({ code: "cancelled" });
    expect(signals[1]!.aborted).toBe(false);
  });

  it("waits for the other attempt when one fails after the hedge started", async () => {
    const result = hedge(
      async (signal, attempt) => {
        if (attempt === 1) {
          await sleep(150, { signal });
          throw new FanoutError("network", "first failed");
        }
        await sleep(100, { signal });
        return "second";
      },
      { afterMs: 100 },
    );
    await vi.advanceTimersByTimeAsync(200);
    await expect(result).resolves.toMatchObject({ value: "second", winner: 2 });
  });

  it("rejects when both attempts fail, and at once when the first fails before the hedge", async () => {
    const both = hedge(
      async () => {
        await sleep(200);
        throw new FanoutError("network", "down");
      },
      { afterMs: 50 },
    );
    const assertion = expect(both).rejects.toMatchObject({ code: "network" });
    await vi.advanceTimersByTimeAsync(300);
    await assertion;

    const task = vi.fn(() => Promise.reject(new FanoutError("http_status", "bad")));
    await expect(hedge(task, { afterMs: 50 })).rejects.toMatchObject({ code: "http_status" });
    await vi.advanceTimersByTimeAsync(100);
    expect(task).toHaveBeenCalledTimes(1);
  });

  it("aborts both attempts when the caller's signal aborts", async () => {
    const controller = new AbortController();
    const signals: AbortSignal[] = [];
    const result = hedge(
      (signal) => {
        signals.push(signal);
        return new Promise<string>(() => {});
      },
      { afterMs: 10, signal: controller.signal },
    );
    await vi.advanceTimersByTimeAsync(20);
    controller.abort(new FanoutError("deadline_exceeded", "late"));
    await expect(result).rejects.toMatchObject({ code: "deadline_exceeded" });
    expect(signals.map((signal) => signal.aborted)).toEqual([true, true]);
  });
});
