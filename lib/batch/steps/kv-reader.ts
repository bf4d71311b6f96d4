/**
 * KV reads for one batch: each step's keys are read with one bulk get, and a key another step of
 * the same batch is reading right now is shared, not read again (in flight only, like Singleflight).
 */
export class KvReader {
  readonly #kv: KVNamespace;
  readonly #inFlight = new Map<string, Promise<string | null>>();

  constructor(kv: KVNamespace) {
    this.#kv = kv;
  }

  /** Values as text by key (null when absent) and whether any key was shared with another read. */
  read(keys: readonly string[]): { values: Promise<Array<string | null>>; coalesced: boolean } {
    const unique = [...new Set(keys)];
    const fresh = unique.filter((key) => !this.#inFlight.has(key));
    if (fresh.length > 0) {
      // Read as text and parsed by the step, so text and json steps share a read and JSON is checked one way.
      const bulk: Promise<Map<string, string | null>> =
        fresh.length === 1 ? this.#kv.get(fresh[0]!, "text").then((value) => new Map([[fresh[0]!, value]])) : this.#kv.get(fresh, "text");
      for (const key of fresh)
        this.#inFlight.set(
          key,
          bulk.then((values) => values.get(key) ?? null),
        );
      const forget = () => {
        for (const key of fresh) this.#inFlight.delete(key);
      };
      bulk.then(forget, forget);
    }
    const values = Promise.all(keys.map((key) => this.#inFlight.get(key)!));
    return { values, coalesced: fresh.length < unique.length || unique.length < keys.length };
  }
}
