import { abortReason } from "../base/errors";

/**
 * A concurrency limiter. At most `concurrency` tasks run at once; a task whose signal aborts
 * while it waits never starts. `size` counts waiting tasks and `pending` running ones (as p-queue).
 * Waiting tasks start highest `priority` first (as p-queue's option), ties in arrival order; without
 * priorities it is FIFO.
 */

/**
 * A task's hold on its slot. The platform counts an outgoing connection against its six only while
 * it waits for response headers, so a task that has its headers may `release()` the slot while it
 * goes on reading the body; a later call of the same task (a retry) `acquire()`s one again first.
 */
export interface Slot {
  /** Frees the slot now (the task runs on without it); does nothing when it is not held. */
  release(): void;
  /** Resolves once the task holds a slot again (queued with its priority; rejects when its signal aborts); at once when held. */
  acquire(): Promise<void>;
}

type Task<T> = (signal: AbortSignal | undefined, slot: Slot) => Promise<T>;

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

  /** Slots held now (tasks running that have not released theirs). */
  get pending(): number {
    return this.#running;
  }

  /**
   * Runs `task` in a slot: at once when one is free, else when the pool gives it one. The slot is
   * held until the task settles or calls `slot.release()`.
   */
  run<T>(task: Task<T>, { signal, priority = 0 }: RunOptions = {}): Promise<T> {
    if (Number.isNaN(priority)) throw new RangeError("priority must be a number, got NaN");
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.#running < this.concurrency) {
      this.#running++;
      return this.#execute(task, signal, priority);
    }
    const rank = typeof priority === "function" ? priority() : priority;
    if (Number.isNaN(rank)) return Promise.reject(new RangeError("priority must be a number, got NaN"));
    return new Promise<T>((resolve, reject) => {
      this.#wait(signal, rank, () => this.#execute(task, signal, rank).then(resolve, reject), reject);
    });
  }

  /** Queues `start` for the next free slot (counted as running when it starts); `reject` when the signal aborts first. */
  #wait(signal: AbortSignal | undefined, rank: number, start: () => void, reject: (reason: unknown) => void): void {
    const waiter: Waiter = {
      priority: rank,
      start: () => {
        signal?.removeEventListener("abort", onAbort);
        start();
      },
    };
    const onAbort = () => {
      const index = this.#queue.indexOf(waiter);
      if (index >= 0) this.#queue.splice(index, 1);
      reject(abortReason(signal!));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#enqueue(waiter);
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

  /** A slot freed: the first waiter (highest priority, then oldest) gets it. */
  #free(): void {
    this.#running--;
    const next = this.#queue.shift();
    if (next) {
      this.#running++;
      next.start();
    }
  }

  /** Runs a task that has just been given a slot; the slot is freed when it settles, if the task has not freed it. */
  async #execute<T>(task: Task<T>, signal: AbortSignal | undefined, priority: number | (() => number)): Promise<T> {
    let held = true;
    const slot: Slot = {
      release: () => {
        if (!held) return;
        held = false;
        this.#free();
      },
      acquire: () => {
        if (held) return Promise.resolve();
        if (signal?.aborted) return Promise.reject(abortReason(signal));
        const taken = () => {
          held = true;
        };
        if (this.#running < this.concurrency) {
          this.#running++;
          taken();
          return Promise.resolve();
        }
        const rank = typeof priority === "function" ? priority() : priority;
        return new Promise<void>((resolve, reject) => this.#wait(signal, rank, () => resolve(taken()), reject));
      },
    };
    try {
      return await task(signal, slot);
    } finally {
      slot.release();
    }
  }
}
