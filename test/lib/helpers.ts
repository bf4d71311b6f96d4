import { vi } from "vitest";

/**
 * Counts the abort listeners added to and removed from `signal`, to prove a primitive removes
 * every listener it added once it settles.
 */
export function trackListeners(signal: AbortSignal) {
  const add = vi.spyOn(signal, "addEventListener");
  const remove = vi.spyOn(signal, "removeEventListener");
  return {
    /** Listeners still attached; a `once` listener detaches itself when the signal fires. */
    get live() {
      const added = add.mock.calls.filter(([type]) => type === "abort");
      const selfRemoved = signal.aborted ? added.filter(([, , options]) => typeof options === "object" && options?.once).length : 0;
      const removed = remove.mock.calls.filter(([type]) => type === "abort").length;
      return added.length - selfRemoved - removed;
    },
  };
}

/** A task that records its signal and only settles when told to, or rejects when aborted. */
export function controllable<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const state: { signal?: AbortSignal; started: boolean } = { started: false };
  const task = (signal?: AbortSignal) => {
    state.signal = signal;
    state.started = true;
    return new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
      signal?.addEventListener("abort", () => rej(signal.reason), { once: true });
    });
  };
  return {
    task,
    state,
    resolve: (value: T) => resolve(value),
    reject: (error: unknown) => reject(error),
  };
}

/** Lets pending promise callbacks run. */
export async function flush(times = 5): Promise<void> {
  for (let i = 0; i < times; i++) await Promise.resolve();
}
