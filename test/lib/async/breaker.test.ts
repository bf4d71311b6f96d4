import { describe, expect, it } from "vitest";
import { type Admission, type BreakerOptions, type BreakerTicket, CircuitBreakers } from "../../../lib/async/breaker";
import { httpRetryPolicy } from "../../../lib/async/retry";
import { FanoutError } from "../../../lib/base/errors";

const A = "https://a.example.com";
const B = "https://b.example.com";

/** Breakers on a clock the test moves by hand: 3 failures within 1 s open for 5 s. */
function breakers(options: Partial<BreakerOptions> = {}) {
  const clock = { now: 0 };
  const instance = new CircuitBreakers({ failureThreshold: 3, intervalMs: 1000, cooldownMs: 5000, now: () => clock.now, ...options });
  return { instance, clock };
}

function ticketOf(admission: Admission): BreakerTicket {
  if (!admission.ok) throw new Error(`refused, retryAfterMs ${admission.retryAfterMs}`);
  return admission.ticket;
}

/** `n` calls to `origin` that each fail, `stepMs` apart. */
function fail(instance: CircuitBreakers, clock: { now: number }, origin: string, n: number, stepMs = 0) {
  for (let i = 0; i < n; i++) {
    if (i > 0) clock.now += stepMs;
    ticketOf(instance.admit(origin)).failure();
  }
}

describe("CircuitBreakers", () => {
  it("stays closed below the threshold, and a success resets the run", () => {
    const { instance, clock } = breakers();
    fail(instance, clock, A, 2);
    expect(instance.admit(A).ok).toBe(true);
    ticketOf(instance.admit(A)).success();
    fail(instance, clock, A, 2);
    expect(instance.pausedFor(A)).toBe(0);
    expect(instance.admit(A).ok).toBe(true);
  });

  it("opens after N consecutive failures within the interval and refuses with the time left", () => {
    const { instance, clock } = breakers();
    fail(instance, clock, A, 3, 400); // 0, 400, 800: within 1000 ms of the first
    clock.now += 1000;
    expect(instance.admit(A)).toEqual({ ok: false, retryAfterMs: 4000 });
    expect(instance.pausedFor(A)).toBe(4000);
  });

  it("does not open when the failures are spread wider than the interval", () => {
    const { instance, clock } = breakers();
    fail(instance, clock, A, 2, 600); // 0, 600
    clock.now += 600; // 1200: more than 1000 ms after the run's first, a new run starts here
    ticketOf(instance.admit(A)).failure();
    expect(instance.admit(A).ok).toBe(true);
    clock.now += 100; // the new run has 2 failures: 1200 and 1300
    ticketOf(instance.admit(A)).failure();
    expect(instance.pausedFor(A)).toBe(0);
    ticketOf(instance.admit(A)).failure(); // third of the new run, within 1000 ms of 1200
    expect(instance.pausedFor(A)).toBe(5000);
  });

  it("after the cooldown admits exactly one trial; others fail at once", () => {
    const { instance, clock } = breakers();
    fail(instance, clock, A, 3);
    clock.now += 4999;
    expect(instance.admit(A)).toEqual({ ok: false, retryAfterMs: 1 });
    clock.now += 1;
    const trial = instance.admit(A);
    expect(trial.ok).toBe(true);
    expect(instance.admit(A)).toEqual({ ok: false, retryAfterMs: 5000 });
    clock.now += 100;
    expect(instance.admit(A).ok).toBe(false);
  });

  it("a trial that succeeds closes the circuit with the count reset", () => {
    const { instance, clock } = breakers();
    fail(instance, clock, A, 3);
    clock.now += 5000;
    ticketOf(instance.admit(A)).success();
    expect(instance.pausedFor(A)).toBe(0);
    fail(instance, clock, A, 2);
    expect(instance.admit(A).ok).toBe(true);
  });

  it("a trial that fails opens the circuit for another cooldown", () => {
    const { instance, clock } = breakers();
    fail(instance, clock, A, 3);
    clock.now += 5000;
    const trial = ticketOf(instance.admit(A));
    clock.now += 200;
    trial.failure();
    expect(instance.admit(A)).toEqual({ ok: false, retryAfterMs: 5000 });
    clock.now += 5000;
    expect(instance.admit(A).ok).toBe(true);
  });

  it("a trial that never reports does not wedge the origin: after a cooldown a new trial is admitted", () => {
    const { instance, clock } = breakers();
    fail(instance, clock, A, 3);
    clock.now += 5000;
    const stuck = ticketOf(instance.admit(A));
    clock.now += 4999;
    expect(instance.admit(A).ok).toBe(false);
    clock.now += 1;
    const next = ticketOf(instance.admit(A));
    // The stuck trial's late report belongs to an earlier generation and is ignored.
    stuck.failure();
    expect(instance.admit(A).ok).toBe(false);
    next.success();
    expect(instance.pausedFor(A)).toBe(0);
  });

  it("a cancelled trial is neutral but frees the slot at once", () => {
    const { instance, clock } = breakers();
    fail(instance, clock, A, 3);
    clock.now += 5000;
    ticketOf(instance.admit(A)).release();
    const again = ticketOf(instance.admit(A));
    expect(instance.admit(A).ok).toBe(false);
    again.success();
    expect(instance.admit(A).ok).toBe(true);
  });

  it("a cancelled call while closed neither counts nor resets the run", () => {
    const { instance, clock } = breakers();
    fail(instance, clock, A, 2);
    ticketOf(instance.admit(A)).release();
    ticketOf(instance.admit(A)).failure();
    expect(instance.admit(A).ok).toBe(false);
  });

  it("reports of calls admitted before the circuit opened are ignored, and only the first report of a ticket counts", () => {
    const { instance, clock } = breakers();
    const late = ticketOf(instance.admit(A));
    fail(instance, clock, A, 3);
    late.success(); // from before the opening: it must not close the circuit
    expect(instance.admit(A).ok).toBe(false);
    clock.now += 5000;
    const trial = ticketOf(instance.admit(A));
    trial.success();
    trial.failure();
    expect(instance.pausedFor(A)).toBe(0);
  });

  it("counts a ticket once however often it reports", () => {
    const { instance, clock } = breakers();
    const twice = ticketOf(instance.admit(A));
    twice.failure();
    twice.failure();
    twice.failure();
    expect(instance.pausedFor(A)).toBe(0);
    fail(instance, clock, A, 2);
    expect(instance.pausedFor(A)).toBe(5000);
  });

  it("keeps origins independent", () => {
    const { instance, clock } = breakers();
    fail(instance, clock, A, 3);
    expect(instance.admit(A).ok).toBe(false);
    expect(instance.admit(B).ok).toBe(true);
    fail(instance, clock, B, 2);
    expect(instance.pausedFor(B)).toBe(0);
  });

  it("checks its options eagerly", () => {
    const base = { failureThreshold: 3, intervalMs: 1000, cooldownMs: 1000 };
    for (const bad of [0, 1.5, 1001, Number.NaN]) {
      expect(() => new CircuitBreakers({ ...base, failureThreshold: bad })).toThrow(RangeError);
    }
    for (const bad of [0, -1, Number.POSITIVE_INFINITY, Number.NaN]) {
      expect(() => new CircuitBreakers({ ...base, intervalMs: bad })).toThrow(RangeError);
      expect(() => new CircuitBreakers({ ...base, cooldownMs: bad })).toThrow(RangeError);
    }
    expect(() => new CircuitBreakers({ ...base, now: 5 as unknown as () => number })).toThrow(RangeError);
    expect(new CircuitBreakers(base).matches(base)).toBe(true);
    expect(new CircuitBreakers(base).matches({ ...base, cooldownMs: 2000 })).toBe(false);
  });

  it("uses the real clock by default", () => {
    const instance = new CircuitBreakers({ failureThreshold: 1, intervalMs: 1000, cooldownMs: 60_000 });
    ticketOf(instance.admit(A)).failure();
    const refused = instance.admit(A);
    expect(refused.ok).toBe(false);
    expect(refused.ok ? 0 : refused.retryAfterMs).toBeGreaterThan(59_000);
  });
});

describe("httpRetryPolicy", () => {
  it("never retries circuit_open", () => {
    const decide = httpRetryPolicy("GET");
    expect(decide({ ok: false, error: new FanoutError("circuit_open", "paused") })).toEqual({ retry: false });
    expect(decide({ ok: false, error: new FanoutError("network", "down") })).toEqual({ retry: true });
  });
});
