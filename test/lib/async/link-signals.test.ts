import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { all } from "../../../lib/async/combinators";
import { hedge } from "../../../lib/async/hedge";
import { Deadline, linkSignals, sleep, withTimeout } from "../../../lib/async/timers";
import { parseConfig } from "../../../lib/base/config";
import { FanoutError } from "../../../lib/base/errors";
import { type BatchRequestInput, batchBindings, executeBatch, planBatch } from "../../../lib/batch/service";
import { flush, trackListeners } from "../helpers";

/**
 * fanout links signals by hand (linkSignals) instead of AbortSignal.any: in workerd every signal
 * AbortSignal.any makes keeps 4-5 KiB of native memory that no GC gives back, which made the
 * gateway grow by tens of KiB per batch (`npm run soak`). The leak cannot be seen from inside a
 * test, so these tests pin what can: linkSignals behaves like AbortSignal.any and lets go of its
 * sources, and the primitives on the request path never call AbortSignal.any.
 */

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe("linkSignals", () => {
  it("aborts with the reason of the first source to abort, and only once", () => {
    const a = new AbortController();
    const b = new AbortController();
    const { signal } = linkSignals([a.signal, b.signal]);
    expect(signal.aborted).toBe(false);
    const first = new FanoutError("deadline_exceeded", "late");
    b.abort(first);
    a.abort(new FanoutError("cancelled", "second"));
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(first);
  });

  it("is aborted at once, with that reason, when a source already is, and adds no listener", () => {
    const a = new AbortController();
    const b = new AbortController();
    const listeners = [trackListeners(a.signal), trackListeners(b.signal)];
    const reason = new FanoutError("cancelled", "already");
    b.abort(reason);
    const { signal } = linkSignals([a.signal, b.signal]);
    expect(signal.reason).toBe(reason);
    expect(listeners.map((tracked) => tracked.live)).toEqual([0, 0]);
  });

  it("removes its listeners from every source on dispose, after which a source's abort no longer reaches it", () => {
    const a = new AbortController();
    const b = new AbortController();
    const listeners = [trackListeners(a.signal), trackListeners(b.signal)];
    const link = linkSignals([a.signal, b.signal]);
    expect(listeners.map((tracked) => tracked.live)).toEqual([1, 1]);
    link.dispose();
    link.dispose(); // safe twice
    expect(listeners.map((tracked) => tracked.live)).toEqual([0, 0]);
    a.abort();
    expect(link.signal.aborted).toBe(false);
  });

  it("leaves nothing on any source once one of them has aborted it", () => {
    const a = new AbortController();
    const b = new AbortController();
    const listeners = [trackListeners(a.signal), trackListeners(b.signal)];
    const link = linkSignals([a.signal, b.signal]);
    a.abort();
    expect(listeners.map((tracked) => tracked.live)).toEqual([0, 0]);
    link.dispose();
    expect(listeners.map((tracked) => tracked.live)).toEqual([0, 0]);
  });
});

describe("the primitives on the request path never call AbortSignal.any", () => {
  it("Deadline and withTimeout, under a caller's signal", async () => {
    const any = vi.spyOn(AbortSignal, "any");
    const controller = new AbortController();
    const deadline = Deadline.after(1000, { signal: controller.signal });
    const done = withTimeout((signal) => sleep(10, { signal }).then(() => "done"), { ms: 50, signal: deadline.signal });
    const timedOut = expect(withTimeout((signal) => sleep(10_000, { signal }), { ms: 50, signal: deadline.signal })).rejects.toMatchObject({
      code: "timeout",
    });
    await vi.advanceTimersByTimeAsync(60);
    await expect(done).resolves.toBe("done");
    await timedOut;
    controller.abort(new FanoutError("cancelled", "client went away"));
    expect(deadline.signal.reason).toMatchObject({ code: "cancelled" });
    deadline.dispose();
    expect(any).not.toHaveBeenCalled();
  });

  it("hedge, through both attempts and the caller's abort", async () => {
    const any = vi.spyOn(AbortSignal, "any");
    const controller = new AbortController();
    const seen: AbortSignal[] = [];
    const result = hedge(
      (signal) => {
        seen.push(signal);
        return new Promise<string>(() => {});
      },
      { afterMs: 50, signal: controller.signal },
    );
    await vi.advanceTimersByTimeAsync(60);
    controller.abort(new FanoutError("deadline_exceeded", "late"));
    await expect(result).rejects.toMatchObject({ code: "deadline_exceeded" });
    // Both attempts heard the caller's abort, with its reason.
    expect(seen.map((signal) => signal.reason?.code)).toEqual(["deadline_exceeded", "deadline_exceeded"]);
    expect(any).not.toHaveBeenCalled();
  });

  it("the combinators, whose tasks still follow the caller's signal", async () => {
    const any = vi.spyOn(AbortSignal, "any");
    const controller = new AbortController();
    const seen: AbortSignal[] = [];
    const result = all(
      [0, 1].map(() => (signal: AbortSignal) => {
        seen.push(signal);
        return sleep(1000, { signal });
      }),
      { signal: controller.signal },
    );
    await flush();
    controller.abort(new FanoutError("cancelled", "client went away"));
    await expect(result).rejects.toMatchObject({ code: "cancelled" });
    expect(seen.map((signal) => signal.reason?.code)).toEqual(["cancelled", "cancelled"]);
    expect(any).not.toHaveBeenCalled();
  });

  it("the combinators unlink each task from the caller's signal when it settles", async () => {
    const controller = new AbortController();
    const listeners = trackListeners(controller.signal);
    const result = all(
      [10, 20].map((ms) => (signal: AbortSignal) => sleep(ms, { signal }).then(() => ms)),
      { signal: controller.signal },
    );
    await flush();
    expect(listeners.live).toBeGreaterThanOrEqual(2); // one link per running task
    await vi.advanceTimersByTimeAsync(20);
    await expect(result).resolves.toEqual([10, 20]);
    await flush();
    expect(listeners.live).toBe(0);
  });
});

describe("a whole batch never calls AbortSignal.any", () => {
  it("steps linked to a batch deadline that follows the client's signal", async () => {
    vi.useRealTimers();
    const any = vi.spyOn(AbortSignal, "any");
    const config = parseConfig(env as unknown as Record<string, unknown>);
    const body: BatchRequestInput = {
      mode: "allSettled",
      deadlineMs: 5000,
      steps: [
        { id: "a", wait: { ms: 1 } },
        { id: "b", wait: { ms: 1 }, dependsOn: ["a"] },
      ],
    };
    const host = {
      bindings: batchBindings(env),
      config,
      serveInProcess: () => new Response(null, { status: 404 }),
      signal: new AbortController().signal,
    };
    await expect(executeBatch(body, planBatch(body, config), host)).resolves.toMatchObject({ counts: { ok: 2 } });
    expect(any).not.toHaveBeenCalled();
    any.mockRestore();
  });
});
