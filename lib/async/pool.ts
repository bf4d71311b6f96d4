import { abortReason } from "../base/errors";

/**
 * A concurrency limiter. At most `concurrency` tasks run at once; a task whose signal aborts
 * while it waits never starts. `size` counts waiting tasks and `pending` running ones (as p-queue).
 * Waiting tasks start highest `priority` first (as p-queue's option), ties in arrival order; without
 * priorities it is FIFO.
 */

type Task<T> = (signal: AbortSignal | undefined) => Promise<T>;

interface Waiter {
  priority: number;
  start: () => void;
}

export interface RunOptions {
  signal?: AbortSignal;
  /**
   * Higher starts sooner when the task has to wait (default 0). A function is called only then, so a
   * caller whose priority costs something to compute pays nothing while slots are free.
   */
  priority?: number | (() => number);
}

/**
 * `new Pool(6).run(task, { signal })`: asyncio's Semaphore with a FIFO queue. Throws RangeError for
 * a concurrency that is not a positive integer.
 */
export class Pool {
  readonly concurrency: number;
  #running = 0;
  readonly #queue: Waiter[] = [];

  constructor(concurrency: number) {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be an integer >= 1, got ${concurrency}`);
    }
    this.concurrency = concurrency;
  }

  /** Tasks waiting for a slot. */
  get size(): number {
    return this.#queue.length;
  }

  /** Tasks running now. */
  get pending(): number {
    return this.#running;
  }

  run<T>(task: Task<T>, { signal, priority = 0 }: RunOptions = {}): Promise<T> {
    if (Number.isNaN(priority)) throw new RangeError("priority must be a number, got NaN");
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.#running < this.concurrency) return this.#execute(task, signal);
    const rank = typeof priority === "function" ? priority() : priority;
    if (Number.isNaN(rank)) return Promise.reject(new RangeError("priority must be a number, got NaN"));
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        priority: rank,
        start: () => {
          signal?.removeEventListener("abort", onAbort);
          this.#execute(task, signal).then(resolve, reject);
        },
      };
      const onAbort = () => {
        const index = this.#queue.indexOf(waiter);
        if (index >= 0) this.#queue.splice(index, 1);
        reject(abortReason(signal!));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#enqueue(waiter);
    });
  }

  /** Behind every waiter of the same or a higher priority (binary search; the queue stays sorted). */
  #enqueue(waiter: Waiter): void {
    const queue = this.#queue;
    const last = queue[queue.length - 1];
    if (last === undefined || last.priority >= waiter.priority) {
      queue.push(waiter);
      return;
    }
    let low = 0;
    let high = queue.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (queue[middle]!.priority >= waiter.priority) low = middle + 1;
      else high = middle;
    }
    queue.splice(low, 0, waiter);
  }

  async #execute<T>(task: Task<T>, signal: AbortSignal | undefined): Promise<T> {
    this.#running++;
    try {
      return await task(signal);
    } finally {
      this.#running--;
      this.#queue.shift()?.start();
    }
  }
}
