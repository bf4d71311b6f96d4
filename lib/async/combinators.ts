import { abortReason, FanoutError, toFanoutError } from "../base/errors";
import { abortable, linkSignals } from "./timers";

/**
 * asyncio's gather over abortable tasks: each task gets its own signal, linked to the caller's, and
 * when `all` stops waiting (a failure, or the caller's abort) every task still running is aborted.
 *
 * The batch scheduler (lib/batch/scheduler.ts) has its own modes (allSettled, all, any, race) over a
 * DAG with dependencies and a concurrency limit, which flat combinators cannot express; this module
 * keeps only what the examples use (`GET /v1/examples/gather`).
 */

export type AbortableTask<T> = (signal: AbortSignal) => Promise<T>;

export type Settled<T> = { status: "fulfilled"; value: T } | { status: "rejected"; reason: FanoutError };

export interface Completed<T> {
  index: number;
  result: Settled<T>;
}

export interface CombinatorOptions {
  signal?: AbortSignal;
}

/** Starts every task with a signal of its own; `abortRest` aborts those not yet settled. */
function launch<T>(tasks: readonly AbortableTask<T>[], signal: AbortSignal | undefined) {
  const controllers = tasks.map(() => new AbortController());
  const settled = tasks.map(() => false);
  const promises = tasks.map((task, index) => {
    const own = controllers[index]!.signal;
    // Linked by hand and unlinked when the task settles (AbortSignal.any leaks in workerd: see linkSignals).
    const link = signal ? linkSignals([signal, own]) : { signal: own, dispose: () => {} };
    const taskSignal = link.signal;
    return Promise.resolve()
      .then(() => task(taskSignal))
      .then(
        (value): Settled<T> => ({ status: "fulfilled", value }),
        (error: unknown): Settled<T> => ({ status: "rejected", reason: toFanoutError(error, taskSignal) }),
      )
      .finally(() => {
        settled[index] = true;
        link.dispose();
      });
  });
  const abortRest = (reason: FanoutError) => {
    controllers.forEach((controller, index) => {
      if (!settled[index]) controller.abort(reason);
    });
  };
  return { promises, abortRest };
}

function loserReason(why: string): FanoutError {
  return new FanoutError("cancelled", `cancelled: ${why}`);
}

/**
 * Waits for settlements in completion order, calling `onSettle` for each until it returns true
 * (stop) or all have settled; aborts the losers when the caller's signal aborts or on stop.
 */
async function drain<T>(
  tasks: readonly AbortableTask<T>[],
  options: CombinatorOptions,
  why: string,
  onSettle: (completed: Completed<T>) => boolean,
): Promise<void> {
  const { signal } = options;
  if (signal?.aborted) throw abortReason(signal);
  const { promises, abortRest } = launch(tasks, signal);
  try {
    for await (const completed of inCompletionOrder(promises, signal)) {
      if (onSettle(completed)) return;
    }
  } finally {
    abortRest(loserReason(why));
  }
}

/** Yields each promise's settlement as it happens, tagged with its index. */
async function* inCompletionOrder<T>(promises: Promise<Settled<T>>[], signal: AbortSignal | undefined): AsyncGenerator<Completed<T>> {
  const pending = new Map(promises.map((promise, index) => [index, promise.then((result) => ({ index, result }))]));
  while (pending.size > 0) {
    // Racing the caller's signal releases the caller even when a task ignores its own signal.
    const first = Promise.race(pending.values());
    const next = await (signal ? abortable(first, signal) : first);
    pending.delete(next.index);
    yield next;
  }
}

/**
 * gather(): all values in input order; on the first failure aborts the rest and rejects with it.
 * @throws the first task's FanoutError, or the abort reason when `signal` aborts.
 * @example const [a, b] = await all([(signal) => fetch(u1, { signal }), (signal) => fetch(u2, { signal })], { signal });
 */
export async function all<T>(tasks: readonly AbortableTask<T>[], options: CombinatorOptions = {}): Promise<T[]> {
  const values = new Array<T>(tasks.length);
  let failure: FanoutError | undefined;
  await drain(tasks, options, "a sibling task failed", ({ index, result }) => {
    if (result.status === "rejected") {
      failure = result.reason;
      return true;
    }
    values[index] = result.value;
    return false;
  });
  if (failure) throw failure;
  return values;
}
