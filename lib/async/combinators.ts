import { FanoutError, toFanoutError } from "../base/errors";
import { abortable, abortReason, linkSignals } from "./timers";

/**
 * asyncio's gather / wait(FIRST_COMPLETED) / as_completed over abortable tasks. Each task gets its
 * own signal, linked to the caller's; whenever a combinator stops waiting, every task still running
 * is aborted, so no loser is ever left running.
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

/** gather(): all values in input order; on the first failure aborts the rest and rejects with it. */
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

/** gather(return_exceptions=True): every settlement in input order. */
export async function allSettled<T>(tasks: readonly AbortableTask<T>[], options: CombinatorOptions = {}): Promise<Settled<T>[]> {
  const results = new Array<Settled<T>>(tasks.length);
  await drain(tasks, options, "the caller stopped waiting", ({ index, result }) => {
    results[index] = result;
    return false;
  });
  return results;
}

/** The first success; aborts the rest. Rejects with `all_failed` carrying every error if none succeeds. */
export async function any<T>(tasks: readonly AbortableTask<T>[], options: CombinatorOptions = {}): Promise<T> {
  if (tasks.length === 0) throw new FanoutError("all_failed", "no task to run");
  const errors = new Array<FanoutError>(tasks.length);
  let winner: { value: T } | undefined;
  await drain(tasks, options, "another task succeeded first", ({ index, result }) => {
    if (result.status === "fulfilled") {
      winner = { value: result.value };
      return true;
    }
    errors[index] = result.reason;
    return false;
  });
  if (winner) return winner.value;
  throw new FanoutError("all_failed", `all ${tasks.length} tasks failed`, { errors });
}

/** The first settlement, success or failure; aborts the rest. */
export async function race<T>(tasks: readonly AbortableTask<T>[], options: CombinatorOptions = {}): Promise<T> {
  if (tasks.length === 0) throw new FanoutError("bad_request", "race needs at least one task");
  let first: Settled<T> | undefined;
  await drain(tasks, options, "another task settled first", ({ result }) => {
    first = result;
    return true;
  });
  if (first!.status === "rejected") throw first!.reason;
  return first!.value;
}

/**
 * as_completed(): yields settlements in completion order. Breaking out of the loop (or the caller's
 * signal aborting) aborts every task still running.
 */
export async function* asCompleted<T>(tasks: readonly AbortableTask<T>[], options: CombinatorOptions = {}): AsyncGenerator<Completed<T>> {
  const { signal } = options;
  if (signal?.aborted) throw abortReason(signal);
  const { promises, abortRest } = launch(tasks, signal);
  try {
    for await (const completed of inCompletionOrder(promises, signal)) {
      yield completed;
    }
  } finally {
    abortRest(loserReason("the consumer stopped iterating"));
  }
}
