import { describe, expect, it, vi } from "vitest";
import { Pool } from "../../../lib/async/pool";
import { FanoutError } from "../../../lib/base/errors";
import { controllable, flush, trackListeners } from "../helpers";

describe("Pool", () => {
  it("never runs more than its concurrency at once and runs tasks in FIFO order", async () => {
    const pool = new Pool(3);
    let inFlight = 0;
    let maxInFlight = 0;
    const order: number[] = [];
    const tasks = Array.from({ length: 10 }, (_, i) =>
      pool.run(async () => {
        order.push(i);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5 + (i % 3)));
        inFlight--;
        return i;
      }),
    );
    expect(pool.pending).toBe(3);
    expect(pool.size).toBe(7);
    expect(await Promise.all(tasks)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(maxInFlight).toBe(3);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(pool.pending).toBe(0);
    expect(pool.size).toBe(0);
  });

  it("a task aborted while queued never starts and frees its place", async () => {
    const pool = new Pool(1);
    const blocker = controllable<string>();
    const running = pool.run((signal) => blocker.task(signal));
    const controller = new AbortController();
    const listeners = trackListeners(controller.signal);
    let started = false;
    const queued = pool.run(
      async () => {
        started = true;
      },
      { signal: controller.signal },
    );
    expect(pool.size).toBe(1);
    controller.abort(new FanoutError("cancelled", "no longer needed"));
    await expect(queued).rejects.toMatchObject({ code: "cancelled" });
    expect(pool.size).toBe(0);
    expect(listeners.live).toBe(0);
    blocker.resolve("done");
    await expect(running).resolves.toBe("done");
    await flush();
    expect(started).toBe(false);
  });

  it("passes the signal to a running task, which can stop promptly", async () => {
    const pool = new Pool(2);
    const controller = new AbortController();
    const task = controllable<string>();
    const running = pool.run((signal) => task.task(signal!), { signal: controller.signal });
    controller.abort(new FanoutError("cancelled", "stop"));
    await expect(running).rejects.toMatchObject({ code: "cancelled" });
    expect(pool.pending).toBe(0);
  });

  it("starts the next waiter when a task fails", async () => {
    const pool = new Pool(1);
    const failing = pool.run(() => Promise.reject(new Error("x")));
    const next = pool.run(async () => "next");
    await expect(failing).rejects.toThrow("x");
    await expect(next).resolves.toBe("next");
  });

  it("removes the queued task's listener once it starts", async () => {
    const pool = new Pool(1);
    const controller = new AbortController();
    const listeners = trackListeners(controller.signal);
    const first = pool.run(() => new Promise((resolve) => setTimeout(resolve, 1)));
    const second = pool.run(async () => "ok", { signal: controller.signal });
    expect(listeners.live).toBe(1);
    await first;
    await expect(second).resolves.toBe("ok");
    expect(listeners.live).toBe(0);
  });

  it("checks its concurrency eagerly", () => {
    expect(() => new Pool(0)).toThrow(RangeError);
    expect(() => new Pool(1.5)).toThrow(RangeError);
  });

  it("starts waiting tasks highest priority first, ties in arrival order", async () => {
    const pool = new Pool(1);
    const blocker = controllable<void>();
    const running = pool.run((signal) => blocker.task(signal));
    const order: string[] = [];
    const queued = (
      [
        ["low", 1],
        ["high-a", 5],
        ["none", undefined],
        ["high-b", 5],
        ["mid", 3],
        ["high-c", () => 5],
        ["negative", -1],
      ] as const
    ).map(([name, priority]) =>
      pool.run(
        async () => {
          order.push(name);
        },
        priority === undefined ? {} : { priority },
      ),
    );
    expect(pool.size).toBe(7);
    blocker.resolve();
    await running;
    await Promise.all(queued);
    expect(order).toEqual(["high-a", "high-b", "high-c", "mid", "low", "none", "negative"]);
  });

  it("calls a priority function only when the task has to wait", async () => {
    const pool = new Pool(1);
    const priority = vi.fn(() => 1);
    const blocker = controllable<void>();
    const first = pool.run((signal) => blocker.task(signal), { priority });
    expect(priority).not.toHaveBeenCalled();
    const second = pool.run(async () => "second", { priority });
    expect(priority).toHaveBeenCalledTimes(1);
    blocker.resolve();
    await first;
    await expect(second).resolves.toBe("second");
  });

  it("a prioritised task aborted while queued never starts and leaves the order of the rest intact", async () => {
    const pool = new Pool(1);
    const blocker = controllable<void>();
    const running = pool.run((signal) => blocker.task(signal));
    const controller = new AbortController();
    const order: string[] = [];
    const task = (name: string) => async () => {
      order.push(name);
    };
    const low = pool.run(task("low"), { priority: 1 });
    const aborted = pool.run(task("aborted"), { priority: 9, signal: controller.signal });
    const high = pool.run(task("high"), { priority: 5 });
    controller.abort(new FanoutError("cancelled", "no longer needed"));
    await expect(aborted).rejects.toMatchObject({ code: "cancelled" });
    expect(pool.size).toBe(2);
    blocker.resolve();
    await Promise.all([running, low, high]);
    expect(order).toEqual(["high", "low"]);
  });

  it("refuses a NaN priority", async () => {
    const pool = new Pool(1);
    expect(() => pool.run(async () => 1, { priority: Number.NaN })).toThrow(RangeError);
    const blocker = controllable<void>();
    const running = pool.run((signal) => blocker.task(signal));
    await expect(pool.run(async () => 1, { priority: () => Number.NaN })).rejects.toThrow(RangeError);
    blocker.resolve();
    await running;
  });

  it("a task that releases its slot runs on without it: the next waiter starts, and releasing again changes nothing", async () => {
    const pool = new Pool(1);
    const body = controllable<string>();
    let release!: () => void;
    const first = pool.run(async (signal, slot) => {
      release = () => slot.release();
      return body.task(signal);
    });
    const second = pool.run(async () => "second");
    expect(pool.size).toBe(1);
    release();
    expect(pool.pending).toBe(1); // the second task holds it now
    await expect(second).resolves.toBe("second");
    expect(pool.pending).toBe(0);
    release();
    expect(pool.pending).toBe(0);
    body.resolve("first");
    await expect(first).resolves.toBe("first");
    expect(pool.pending).toBe(0);
  });

  it("acquire() after a release queues with the task's priority; aborted while queued it rejects and leaves no listener", async () => {
    const pool = new Pool(1);
    const blocker = controllable<void>();
    const controller = new AbortController();
    const listeners = trackListeners(controller.signal);
    let reacquired: Promise<void> | undefined;
    const retrying = pool.run(
      async (_, slot) => {
        slot.release();
        const holder = pool.run((signal) => blocker.task(signal));
        reacquired = slot.acquire();
        expect(pool.size).toBe(1);
        controller.abort(new FanoutError("cancelled", "no longer needed"));
        await expect(reacquired).rejects.toMatchObject({ code: "cancelled" });
        blocker.resolve();
        await holder;
        return "done";
      },
      { signal: controller.signal },
    );
    await expect(retrying).resolves.toBe("done");
    expect(pool.size).toBe(0);
    expect(pool.pending).toBe(0);
    expect(listeners.live).toBe(0);
  });

  it("acquire() after a release waits for a slot and holds it until the task settles", async () => {
    const pool = new Pool(1);
    const blocker = controllable<void>();
    const events: string[] = [];
    const task = pool.run(async (_, slot) => {
      slot.release();
      const holder = pool.run((signal) => blocker.task(signal)).then(() => events.push("holder done"));
      const acquired = slot.acquire().then(() => events.push("acquired"));
      await flush();
      expect(events).toEqual([]);
      blocker.resolve();
      await Promise.all([holder, acquired]);
      expect(pool.pending).toBe(1);
      return events;
    });
    await expect(task).resolves.toEqual(expect.arrayContaining(["holder done", "acquired"]));
    expect(pool.pending).toBe(0);
  });
});
