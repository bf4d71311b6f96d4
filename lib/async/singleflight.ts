/**
 * Coalesces identical calls made within one request into one execution, while that execution is in
 * flight (Go's singleflight, Apollo's request dedup): a call that starts after it settled runs again,
 * so a read never answers with data older than a write that came between. Create one per request:
 * Workers cancels promises shared across requests, so this must never live at module level.
 */
export interface Shared<T> {
  value: T;
  /** True for every caller after the first, which joined the first caller's execution. */
  shared: boolean;
}

/** One request's coalescing group: `do(key, fn)` joins an identical call in flight, or starts one. */
export class Singleflight<T> {
  readonly #inFlight = new Map<string, Promise<T>>();

  /**
   * Runs `fn` for the first caller of `key`; callers that arrive while it runs get the same
   * settlement (value or rejection). The key is forgotten the moment the execution settles.
   */
  async do(key: string, fn: () => Promise<T>): Promise<Shared<T>> {
    const existing = this.#inFlight.get(key);
    if (existing) return { value: await existing, shared: true };
    const execution = Promise.resolve()
      .then(fn)
      .finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, execution);
    return { value: await execution, shared: false };
  }

  /** Executions in flight. */
  get size(): number {
    return this.#inFlight.size;
  }
}
