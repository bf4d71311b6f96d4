/**
 * Coalesces identical calls made within one request into one execution. Create one per request:
 * Workers cancels promises shared across requests, so this must never live at module level.
 */
export interface Shared<T> {
  value: T;
  /** True for every caller after the first, which reused the first caller's execution. */
  shared: boolean;
}

export class Singleflight<T> {
  readonly #inFlight = new Map<string, Promise<T>>();

  /** Runs `fn` for the first caller of `key`; later callers get the same settlement. */
  async do(key: string, fn: () => Promise<T>): Promise<Shared<T>> {
    const existing = this.#inFlight.get(key);
    if (existing) return { value: await existing, shared: true };
    const execution = Promise.resolve().then(fn);
    this.#inFlight.set(key, execution);
    return { value: await execution, shared: false };
  }

  get size(): number {
    return this.#inFlight.size;
  }
}
