import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { abortable, Deadline, sleep, TimeoutQueue, withTimeout } from "../../../lib/async/timers";
import { FanoutError } from "../../../lib/base/errors";
import { flush, trackListeners } from "../helpers";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("sleep", () => {
  it("resolves after the given time and not before", async () => {
    let done = false;
    const sleeping = sleep(1000).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await sleeping;
    expect(done).toBe(true);
  });

  it("rejects promptly with the abort reason, clears its timer and removes its listener", async () => {
    const controller = new AbortController();
    const listeners = trackListeners(controller.signal);
    const sleeping = sleep(10_000, { signal: controller.signal });
    expect(listeners.live).toBe(1);
    controller.abort(new FanoutError("cancelled", "stop"));
    await expect(sleeping).rejects.toMatchObject({ code: "cancelled", detail: "stop" });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("removes its abort listener when it resolves", async () => {
    const controller = new AbortController();
    const listeners = trackListeners(controller.signal);
    const sleeping = sleep(50, { signal: controller.signal });
    await vi.advanceTimersByTimeAsync(50);
    await sleeping;
    expect(listeners.live).toBe(0);
  });

  it("rejects at once for an already aborted signal, with a typed error for a plain abort", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(sleep(10, { signal: controller.signal })).rejects.toMatchObject({ code: "cancelled" });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("checks its argument eagerly", () => {
    expect(() => sleep(-1)).toThrow(RangeError);
    expect(() => sleep(Number.NaN)).toThrow(RangeError);
  });
});

describe("withTimeout (wait_for)", () => {
  it("returns the task's value when it finishes in time and leaves no timer", async () => {
    const result = withTimeout(
      async (signal) => {
        await sleep(100, { signal });
        return "ok";
      },
      { ms: 500 },
    );
    await vi.advanceTimersByTimeAsync(100);
    await expect(result).resolves.toBe("ok");
    expect(vi.getTimerCount()).toBe(0);
  });

  it("rejects with a typed timeout and aborts the task's signal", async () => {
    let seen: AbortSignal | undefined;
    const result = withTimeout(
      (signal) => {
        seen = signal;
        return new Promise(() => {}); // ignores its signal on purpose
      },
      { ms: 200 },
    );
    const assertion = expect(result).rejects.toMatchObject({ code: "timeout", status: 504 });
    await vi.advanceTimersByTimeAsync(200);
    await assertion;
    expect(seen?.aborted).toBe(true);
  });

  it("removes its listener from the caller's signal when the task settles first", async () => {
    const controller = new AbortController();
    const listeners = trackListeners(controller.signal);
    const result = withTimeout(async () => "ok", { ms: 5000, signal: controller.signal });
    expect(listeners.live).toBe(1);
    await expect(result).resolves.toBe("ok");
    expect(listeners.live).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("does not start the task when the caller's signal has already aborted", async () => {
    const controller = new AbortController();
    controller.abort(new FanoutError("cancelled", "gone before it began"));
    const task = vi.fn(async () => "ok");
    await expect(withTimeout(task, { ms: 5000, signal: controller.signal })).rejects.toMatchObject({ detail: "gone before it began" });
    await flush();
    expect(task).not.toHaveBeenCalled();
  });

  it("follows the caller's signal and removes its listener from it afterwards", async () => {
    const controller = new AbortController();
    const listeners = trackListeners(controller.signal);
    const result = withTimeout((signal) => sleep(1000, { signal }), { ms: 5000, signal: controller.signal });
    await flush();
    controller.abort(new FanoutError("cancelled", "client went away"));
    await expect(result).rejects.toMatchObject({ code: "cancelled", detail: "client went away" });
    expect(listeners.live).toBe(0);
  });
});

describe("Deadline", () => {
  it("aborts its signal with deadline_exceeded when the time is up", async () => {
    const deadline = Deadline.after(1000);
    expect(deadline.remaining()).toBe(1000);
    await vi.advanceTimersByTimeAsync(400);
    expect(deadline.remaining()).toBe(600);
    await vi.advanceTimersByTimeAsync(600);
    expect(deadline.signal.aborted).toBe(true);
    expect(deadline.signal.reason).toMatchObject({ code: "deadline_exceeded" });
    expect(deadline.remaining()).toBe(0);
  });

  it("dispose clears its timer", () => {
    const deadline = Deadline.after(1000);
    expect(vi.getTimerCount()).toBe(1);
    deadline.dispose();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("abortable", () => {
  it("releases the caller when the signal aborts even if the work never settles", async () => {
    const controller = new AbortController();
    const released = abortable(new Promise(() => {}), controller.signal);
    controller.abort(new FanoutError("timeout", "too slow"));
    await expect(released).rejects.toMatchObject({ code: "timeout" });
  });
});

describe("TimeoutQueue: many timeouts on one timer", () => {
  it("fires each entry at its time, in time order, on one timer; a cancelled one never fires; dispose leaves no timer", async () => {
    vi.useFakeTimers();
    try {
      const queue = new TimeoutQueue();
      const fired: string[] = [];
      queue.schedule(300, () => fired.push("c"));
      queue.schedule(100, () => fired.push("a"));
      const cancelB = queue.schedule(200, () => fired.push("b"));
      queue.schedule(100, () => fired.push("a2"));
      expect(vi.getTimerCount()).toBe(1);
      cancelB();
      await vi.advanceTimersByTimeAsync(99);
      expect(fired).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(fired).toEqual(["a", "a2"]);
      await vi.advanceTimersByTimeAsync(200);
      expect(fired).toEqual(["a", "a2", "c"]);
      expect(vi.getTimerCount()).toBe(0);
      queue.schedule(50, () => fired.push("late"));
      queue.dispose();
      expect(vi.getTimerCount()).toBe(0);
      await vi.advanceTimersByTimeAsync(100);
      expect(fired).toEqual(["a", "a2", "c"]);
      expect(() => queue.schedule(-1, () => {})).toThrow(RangeError);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a Deadline's timeouts are let go with it", async () => {
    vi.useFakeTimers();
    try {
      const deadline = Deadline.after(1000);
      let fired = false;
      deadline.timeouts.schedule(100, () => {
        fired = true;
      });
      expect(vi.getTimerCount()).toBe(2);
      deadline.dispose();
      expect(vi.getTimerCount()).toBe(0);
      await vi.advanceTimersByTimeAsync(2000);
      expect(fired).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});
