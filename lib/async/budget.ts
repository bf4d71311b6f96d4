/**
 * A counted allowance shared by every step of one batch (retries, response bytes, subrequests).
 * Per request only: a budget must never be shared across requests.
 */
export class Budget {
  #limit: number;
  #used = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get limit(): number {
    return this.#limit;
  }

  get remaining(): number {
    return Math.max(0, this.#limit - this.#used);
  }

  /** Takes `amount` if it fits; false (and nothing taken) if it does not. */
  tryTake(amount = 1): boolean {
    if (this.#used + amount > this.#limit) return false;
    this.#used += amount;
    return true;
  }

  raise(amount: number): void {
    this.#limit += amount;
  }
}

/** The share of a batch's calls that may be retried, so one bad upstream cannot start a retry storm. */
export const RETRY_SHARE = 0.2;

/** Retries allowed for `calls` calls: RETRY_SHARE of them, at least 3. */
export function retryAllowance(calls: number): number {
  return Math.max(3, Math.floor(calls * RETRY_SHARE));
}
