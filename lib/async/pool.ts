import { abortReason } from "../base/errors";

/**
 * A FIFO concurrency limiter. At most `concurrency` tasks run at once; a task whose signal aborts
 * while it waits never starts. `size` counts waiting tasks and `pending` running ones (as p-queue).
 */

type Task<T> = (signal: AbortSignal | undefined) => Promise<T>;

interface Waiter {
  start: () => void;
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

  run<T>(task: Task<T>, { signal }: { signal?: AbortSignal } = {}): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.#running < this.concurrency) return this.#execute(task, signal);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
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
      this.#queue.push(waiter);
    });
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
