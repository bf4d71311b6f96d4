import { checkMs } from "./timers";

/**
 * Circuit breakers per upstream origin (Envoy's consecutive-failure ejection, KrakenD's circuit
 * breaker): after `failureThreshold` consecutive failures within `intervalMs`, calls to that origin
 * fail at once for `cooldownMs`; then exactly one trial call is let through, and its outcome closes
 * the circuit again or re-opens it for another cooldown.
 *
 * Pure data (strings, numbers, timestamps; never a promise or an I/O object), so one instance may
 * outlive a request and be shared by every request of an isolate: the isolate is the unit that sees
 * the failures.
 */

export interface BreakerSettings {
  /** Consecutive failures that open an origin's circuit, an integer from 1 to 1000. */
  failureThreshold: number;
  /** The window a run of failures must fall in: a failure later than this after the run's first starts a new run. */
  intervalMs: number;
  /** How long an open circuit refuses calls before it admits a trial (and how long a trial may stay out). */
  cooldownMs: number;
}

export interface BreakerOptions extends BreakerSettings {
  /** The clock; injectable so tests are deterministic. */
  now?: () => number;
}

/** One admitted call's report; the first report counts, later ones are ignored. */
export interface BreakerTicket {
  /** The origin answered (any status below 500). */
  success(): void;
  /** A network error, a timeout or a 5xx. */
  failure(): void;
  /** Neither: the call was cancelled or refused before it reached the origin. Frees a trial slot. */
  release(): void;
}

export type Admission = { ok: true; ticket: BreakerTicket } | { ok: false; retryAfterMs: number };

interface Circuit {
  failures: number;
  runStartedAt: number;
  /** When the circuit opened (or a trial failed); undefined while closed. */
  openedAt: number | undefined;
  /** When the current half-open trial was admitted; undefined when none is out. */
  trialAt: number | undefined;
  /** Bumped on every transition: a report from an earlier generation is ignored. */
  generation: number;
  /** Tickets not yet reported; a closed circuit with no failures and none out is forgotten. */
  outstanding: number;
}

type Report = "success" | "failure" | "release";

/** Per-origin circuit breakers: `admit(origin)` before each call, then one report on its ticket. */
export class CircuitBreakers {
  readonly settings: Readonly<BreakerSettings>;
  readonly #now: () => number;
  readonly #circuits = new Map<string, Circuit>();

  /** @throws RangeError for settings out of range (checked here, before any call). */
  constructor({ failureThreshold, intervalMs, cooldownMs, now = Date.now }: BreakerOptions) {
    if (!Number.isInteger(failureThreshold) || failureThreshold < 1 || failureThreshold > 1000) {
      throw new RangeError(`failureThreshold must be an integer from 1 to 1000, got ${failureThreshold}`);
    }
    checkMs("intervalMs", intervalMs);
    checkMs("cooldownMs", cooldownMs);
    if (intervalMs < 1 || cooldownMs < 1) throw new RangeError(`intervalMs and cooldownMs must be at least 1 ms`);
    if (typeof now !== "function") throw new RangeError("now must be a function returning milliseconds");
    this.settings = Object.freeze({ failureThreshold, intervalMs, cooldownMs });
    this.#now = now;
  }

  /** Whether these are the settings of this instance (a changed configuration needs a new one). */
  matches(settings: BreakerSettings): boolean {
    const own: BreakerSettings = this.settings;
    return (["failureThreshold", "intervalMs", "cooldownMs"] as const).every((name) => own[name] === settings[name]);
  }

  /**
   * Asks to call `origin`: a ticket to report the outcome on, or a refusal with the time until a
   * trial may be admitted. In half-open state only one trial is out at a time; a trial that has been
   * out longer than `cooldownMs` (its report never came) is given up and a new one admitted.
   */
  admit(origin: string): Admission {
    const now = this.#now();
    let circuit = this.#circuits.get(origin);
    if (!circuit) {
      circuit = { failures: 0, runStartedAt: now, openedAt: undefined, trialAt: undefined, generation: 0, outstanding: 0 };
      this.#circuits.set(origin, circuit);
    }
    const retryAfterMs = this.#pausedFor(circuit, now);
    if (retryAfterMs > 0) return { ok: false, retryAfterMs };
    if (circuit.openedAt !== undefined) {
      circuit.trialAt = now;
      circuit.generation++;
    }
    circuit.outstanding++;
    const generation = circuit.generation;
    let reported = false;
    const report = (outcome: Report) => {
      if (reported) return;
      reported = true;
      circuit.outstanding--;
      if (circuit.generation === generation) this.#record(circuit, outcome);
      if (circuit.openedAt === undefined && circuit.failures === 0 && circuit.outstanding === 0) this.#circuits.delete(origin);
    };
    return { ok: true, ticket: { success: () => report("success"), failure: () => report("failure"), release: () => report("release") } };
  }

  /** Milliseconds until `origin` would admit a call; 0 when it would now. */
  pausedFor(origin: string): number {
    const circuit = this.#circuits.get(origin);
    return circuit ? this.#pausedFor(circuit, this.#now()) : 0;
  }

  #pausedFor(circuit: Circuit, now: number): number {
    if (circuit.openedAt === undefined) return 0;
    // Open: a cooldown after opening; half-open: a cooldown after the trial out was admitted.
    return Math.max(0, (circuit.trialAt ?? circuit.openedAt) + this.settings.cooldownMs - now);
  }

  #record(circuit: Circuit, outcome: Report): void {
    const now = this.#now();
    if (outcome === "release") circuit.trialAt = undefined;
    else if (circuit.openedAt !== undefined) {
      // The trial's answer: closed again, or open for another cooldown.
      circuit.openedAt = outcome === "failure" ? now : undefined;
      circuit.trialAt = undefined;
      circuit.failures = 0;
      circuit.generation++;
    } else if (outcome === "success") circuit.failures = 0;
    else {
      // A failure later than intervalMs after the run's first starts a new run.
      if (circuit.failures === 0 || now - circuit.runStartedAt > this.settings.intervalMs) {
        circuit.failures = 0;
        circuit.runStartedAt = now;
      }
      circuit.failures++;
      if (circuit.failures >= this.settings.failureThreshold) {
        circuit.openedAt = now;
        circuit.generation++;
      }
    }
  }
}
