import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { hedge } from "../../../lib/async/hedge";
import { abortable, Deadline, sleep } from "../../../lib/async/timers";
import { parseConfig } from "../../../lib/base/config";
import { FanoutError } from "../../../lib/base/errors";
import { buildPlan } from "../../../lib/batch/plan";
import { type Executor, runBatch } from "../../../lib/batch/scheduler";
import { type BatchRequestInput, batchBindings, executeBatch, planBatch } from "../../../lib/batch/service";
import type { StepInput } from "../../../lib/batch/steps/types";
import { batchContext } from "../batch-context";
import { flush } from "../helpers";

/**
 * Listener hygiene: every primitive that listens on a caller's signal removes what it added once it
 * settles (success, failure or abort), so a long-lived signal (a request's, a batch's) does not
 * collect one closure per operation. The counter sees the listeners our code adds through
 * addEventListener (fanout links signals by hand, never with AbortSignal.any(): see linkSignals).
 */

type Listener = EventListenerOrEventListenerObject;
type AddOptions = Parameters<AbortSignal["addEventListener"]>[2];
type RemoveOptions = Parameters<AbortSignal["removeEventListener"]>[2];
const prototype = AbortSignal.prototype as AbortSignal;
const realAdd = prototype.addEventListener;
const realRemove = prototype.removeEventListener;
const ownAdd = Object.getOwnPropertyDescriptor(prototype, "addEventListener");
const ownRemove = Object.getOwnPropertyDescriptor(prototype, "removeEventListener");
/** Per signal: each abort listener still attached, mapped to the wrapper really registered. */
let attached = new WeakMap<EventTarget, Map<Listener, EventListener>>();

function liveListeners(signal: AbortSignal): number {
  return attached.get(signal)?.size ?? 0;
}

beforeEach(() => {
  vi.useFakeTimers();
  attached = new WeakMap();
  // Registered through a wrapper so a `once` listener is forgotten exactly when the runtime drops it.
  prototype.addEventListener = function (this: AbortSignal, type: string, listener: Listener, options?: AddOptions) {
    if (type !== "abort") return realAdd.call(this, type, listener, options);
    const live = attached.get(this) ?? new Map<Listener, EventListener>();
    attached.set(this, live);
    if (live.has(listener)) return; // EventTarget ignores a second registration of the same listener
    const once = typeof options === "object" && options.once === true;
    const wrapper: EventListener = (event) => {
      if (once) live.delete(listener);
      if (typeof listener === "function") listener.call(this, event);
      else listener.handleEvent(event);
    };
    live.set(listener, wrapper);
    realAdd.call(this, type, wrapper, options);
  } as AbortSignal["addEventListener"];
  prototype.removeEventListener = function (this: AbortSignal, type: string, listener: Listener, options?: RemoveOptions) {
    const live = attached.get(this);
    const wrapper = live?.get(listener);
    if (type !== "abort" || !wrapper) return realRemove.call(this, type, listener, options);
    live!.delete(listener);
    realRemove.call(this, type, wrapper, options);
  } as AbortSignal["removeEventListener"];
});

afterEach(() => {
  for (const [name, own] of [
    ["addEventListener", ownAdd],
    ["removeEventListener", ownRemove],
  ] as const) {
    if (own) Object.defineProperty(prototype, name, own);
    else delete (prototype as Partial<AbortSignal>)[name];
  }
  vi.useRealTimers();
});

describe("the counter itself", () => {
  it("sees an added listener, its removal, and a once listener dropping itself on abort", () => {
    const controller = new AbortController();
    const kept = () => {};
    controller.signal.addEventListener("abort", kept);
    controller.signal.addEventListener("abort", () => {}, { once: true });
    expect(liveListeners(controller.signal)).toBe(2);
    controller.abort();
    expect(liveListeners(controller.signal)).toBe(1);
    controller.signal.removeEventListener("abort", kept);
    expect(liveListeners(controller.signal)).toBe(0);
  });
});

describe("abortable", () => {
  it("removes its listener when the work succeeds", async () => {
    const controller = new AbortController();
    const settled = abortable(Promise.resolve("ok"), controller.signal);
    expect(liveListeners(controller.signal)).toBe(1);
    await expect(settled).resolves.toBe("ok");
    await flush();
    expect(liveListeners(controller.signal)).toBe(0);
  });

  it("removes its listener when the work fails", async () => {
    const controller = new AbortController();
    const settled = abortable(Promise.reject(new FanoutError("network", "down")), controller.signal);
    await expect(settled).rejects.toMatchObject({ code: "network" });
    await flush();
    expect(liveListeners(controller.signal)).toBe(0);
  });

  it("leaves nothing behind when the signal aborts first, nor when the work settles afterwards", async () => {
    const controller = new AbortController();
    let finish!: (value: string) => void;
    const settled = abortable(new Promise<string>((resolve) => (finish = resolve)), controller.signal);
    controller.abort(new FanoutError("cancelled", "stop"));
    await expect(settled).rejects.toMatchObject({ code: "cancelled" });
    expect(liveListeners(controller.signal)).toBe(0);
    finish("late");
    await flush();
    expect(liveListeners(controller.signal)).toBe(0);
  });

  it("adds nothing for a signal that is already aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(abortable(Promise.resolve(1), controller.signal)).rejects.toMatchObject({ code: "cancelled" });
    expect(liveListeners(controller.signal)).toBe(0);
  });

  it("many settled operations leave a long-lived signal as they found it", async () => {
    const controller = new AbortController();
    await Promise.all(Array.from({ length: 50 }, (_, i) => abortable(Promise.resolve(i), controller.signal)));
    await flush();
    expect(liveListeners(controller.signal)).toBe(0);
  });
});

describe("hedge", () => {
  it("removes its listener and timer when the first attempt wins before the hedge", async () => {
    const controller = new AbortController();
    const result = hedge(() => Promise.resolve("first"), { afterMs: 100, signal: controller.signal });
    expect(liveListeners(controller.signal)).toBe(1);
    await expect(result).resolves.toMatchObject({ value: "first", hedged: false });
    expect(liveListeners(controller.signal)).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("removes its listener when the hedge wins", async () => {
    const controller = new AbortController();
    const result = hedge((signal, attempt) => (attempt === 1 ? sleep(10_000, { signal }).then(() => "first") : Promise.resolve("second")), {
      afterMs: 50,
      signal: controller.signal,
    });
    await vi.advanceTimersByTimeAsync(50);
    await expect(result).resolves.toMatchObject({ value: "second", winner: 2 });
    expect(liveListeners(controller.signal)).toBe(0);
  });

  it("removes its listener when a failure before the hedge is final", async () => {
    const controller = new AbortController();
    const result = hedge(() => Promise.reject(new FanoutError("http_status", "bad")), { afterMs: 50, signal: controller.signal });
    await expect(result).rejects.toMatchObject({ code: "http_status" });
    expect(liveListeners(controller.signal)).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("removes its listener when both attempts fail", async () => {
    const controller = new AbortController();
    const result = hedge((signal) => sleep(100, { signal }).then(() => Promise.reject(new FanoutError("network", "down"))), {
      afterMs: 50,
      signal: controller.signal,
    });
    const assertion = expect(result).rejects.toMatchObject({ code: "network" });
    await vi.advanceTimersByTimeAsync(200);
    await assertion;
    expect(liveListeners(controller.signal)).toBe(0);
  });

  it("leaves nothing behind when the caller's signal aborts", async () => {
    const controller = new AbortController();
    const result = hedge(() => new Promise<string>(() => {}), { afterMs: 50, signal: controller.signal });
    await vi.advanceTimersByTimeAsync(60);
    controller.abort(new FanoutError("deadline_exceeded", "late"));
    await expect(result).rejects.toMatchObject({ code: "deadline_exceeded" });
    expect(liveListeners(controller.signal)).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("runBatch", () => {
  const plan = (steps: StepInput[]) => buildPlan(steps, { maxSteps: 100, subrequestBudget: 1000, isInProcess: () => true });
  // Steps whose spec says ms: 13 fail; the others succeed after their ms.
  const execute: Executor = async (_kind, spec, { signal }) => {
    const { ms } = spec as { ms: number };
    await sleep(ms, { signal });
    if (ms === 13) throw new FanoutError("network", "step failed");
    return { ok: true, status: 200, body: { ms } };
  };
  const start = (steps: StepInput[], mode: "allSettled" | "all" = "allSettled", signal?: AbortSignal) => {
    const batch = batchContext({ signal });
    // The deadline listens on its own signal too; what runBatch adds is counted on top of that.
    const before = liveListeners(batch.deadline.signal);
    const outcome = runBatch(plan(steps), { mode, concurrency: 4, maxSteps: 100, batch, execute });
    const deadline = batch.deadline;
    return { outcome, added: () => liveListeners(deadline.signal) - before, deadline };
  };

  it("removes its abort listener from the batch signal when every step succeeded", async () => {
    const { outcome, added, deadline } = start([
      { id: "a", wait: { ms: 10 } },
      { id: "b", wait: { ms: 20 }, dependsOn: ["a"] },
    ]);
    expect(added()).toBe(1);
    await vi.advanceTimersByTimeAsync(30);
    await expect(outcome).resolves.toMatchObject({ completed: true });
    expect(added()).toBe(0);
    deadline.dispose();
    expect(liveListeners(deadline.signal)).toBe(0);
  });

  it("removes it when the mode stops the batch on a failure", async () => {
    const { outcome, added, deadline } = start(
      [
        { id: "bad", wait: { ms: 13 } },
        { id: "slow", wait: { ms: 1000 } },
      ],
      "all",
    );
    await vi.advanceTimersByTimeAsync(13);
    await expect(outcome).resolves.toMatchObject({ completed: false, counts: { failed: 1, cancelled: 1 } });
    expect(added()).toBe(0);
    deadline.dispose();
    expect(liveListeners(deadline.signal)).toBe(0);
  });

  it("leaves nothing behind when the batch signal aborts", async () => {
    const controller = new AbortController();
    const { outcome, deadline } = start([{ id: "slow", wait: { ms: 1000 } }], "allSettled", controller.signal);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort(new FanoutError("cancelled", "client went away"));
    await expect(outcome).resolves.toMatchObject({ counts: { cancelled: 1 } });
    // Both runBatch's listener and the deadline's own are gone (each a once listener that has fired).
    expect(liveListeners(deadline.signal)).toBe(0);
    deadline.dispose();
  });
});

describe("Deadline", () => {
  it("dispose clears its timer and leaves nothing on its signal", () => {
    const deadline = Deadline.after(1000);
    expect(vi.getTimerCount()).toBe(1);
    deadline.dispose();
    expect(vi.getTimerCount()).toBe(0);
    expect(liveListeners(deadline.signal)).toBe(0);
  });

  it("a deadline linked to a parent signal keeps one listener on it while it lives and leaves nothing once disposed", () => {
    const controller = new AbortController();
    const parent = Deadline.after(1000, { signal: controller.signal });
    const child = Deadline.after(100, { signal: parent.signal });
    expect(liveListeners(controller.signal)).toBe(1); // the parent deadline's link
    expect(liveListeners(parent.signal)).toBe(1); // the child's link
    child.dispose();
    expect(liveListeners(parent.signal)).toBe(0);
    parent.dispose();
    expect(liveListeners(controller.signal) + liveListeners(child.signal) + liveListeners(parent.signal)).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a deadline whose parent aborted leaves nothing on the parent, nor after dispose", () => {
    const controller = new AbortController();
    const deadline = Deadline.after(1000, { signal: controller.signal });
    controller.abort(new FanoutError("cancelled", "client went away"));
    expect(deadline.signal.reason).toMatchObject({ code: "cancelled" });
    expect(liveListeners(controller.signal) + liveListeners(deadline.signal)).toBe(0);
    deadline.dispose();
    expect(liveListeners(controller.signal) + liveListeners(deadline.signal)).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("executeBatch disposes the batch deadline", () => {
  const config = parseConfig(env as unknown as Record<string, unknown>);
  const host = (signal?: AbortSignal) => ({
    bindings: batchBindings(env),
    config,
    serveInProcess: () => new Response(null, { status: 404 }),
    signal,
  });
  const body = (steps: StepInput[], deadlineMs = 5000) => ({ mode: "allSettled", deadlineMs, steps }) as BatchRequestInput;

  it.each([
    ["succeeds", [{ id: "w", wait: { ms: 10 } }], 10, { ok: 1 }],
    ["fails", [{ id: "k", kv: { key: "not-a-listed-prefix", type: "text" } }], 0, { failed: 1 }],
  ] as Array<[string, StepInput[], number, Record<string, number>]>)(
    "leaves no timer running when the batch %s",
    async (_, steps, ms, counts) => {
      const request = body(steps);
      const outcome = executeBatch(request, planBatch(request, config), host());
      await vi.advanceTimersByTimeAsync(ms);
      await expect(outcome).resolves.toMatchObject({ counts });
      expect(vi.getTimerCount()).toBe(0);
    },
  );

  it("leaves no timer and no listener on the request's signal when the client goes away", async () => {
    const controller = new AbortController();
    const request = body([{ id: "w", wait: { ms: 1000 } }]);
    const outcome = executeBatch(request, planBatch(request, config), host(controller.signal));
    await vi.advanceTimersByTimeAsync(10);
    controller.abort(new FanoutError("cancelled", "client went away"));
    await expect(outcome).resolves.toMatchObject({ counts: { cancelled: 1 } });
    expect(vi.getTimerCount()).toBe(0);
    expect(liveListeners(controller.signal)).toBe(0);
  });
});
