import { abortable } from "../../async/timers";
import { FanoutError } from "../../base/errors";

/**
 * One binding call of a storage step (KV, R2, D1, the Cache API) under the step's signal. An abort
 * stays the abort (the step is cancelled or timed out, not broken); any other failure, thrown at once
 * or later, is `storage_error` with the step's own wording, the binding's error kept as the cause
 * (logged, never shown: it can name tables and columns).
 */
export async function storageCall<T>(call: () => Promise<T>, signal: AbortSignal, failure: (error: unknown) => string): Promise<T> {
  try {
    return await abortable(call(), signal);
  } catch (error) {
    if (signal.aborted) throw error;
    throw new FanoutError("storage_error", failure(error), { cause: error });
  }
}
