import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { httpRetryPolicy, parseRetryAfter, retry } from "../../../lib/async/retry";
import { Deadline } from "../../../lib/async/timers";
import { FanoutError } from "../../../lib/base/errors";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const always = () => ({ retry: true });
const onFailure = (outcome: { ok: boolean }) => ({ retry: !outcome.ok });
const half = () => 0.5;

describe("retry", () => {
  it("retries until success and reports the attempt count", async () => {
    let calls = 0;
    const result = retry(
      async () => {
        calls++;
        if (calls < 3) throw new FanoutError("network", "boom");
        return "ok";
      },
      { attempts: 5, decide: onFailure, random: half },
    );
    await vi.runAllTimersAsync();
    await expect(result).resolves.toEqual({ ok: true, value: "ok", attempts: 3 });
  });

  it("stops at the attempts cap and returns the last failure", async () => {
    const result = retry(() => Promise.reject(new FanoutError("network", "down")), { attempts: 3, decide: always, random: half });
    await vi.runAllTimersAsync();
    await expect(result).resolves.toMatchObject({ ok: false, attempts: 3, error: { code: "network" } });
  });

  it("does not retry what decide refuses", async () => {
    const operation = vi.fn(() => Promise.reject(new FanoutError("http_status", "400")));
    const result = await retry(operation, { attempts: 5, decide: () => ({ retry: false }) });
    expect(result).toMatchObject({ ok: false, attempts: 1 });
    expect(operation).toHaveBeenCalledTimes(1);
  });

  it("waits with capped exponential backoff and full jitter", async () => {
    const starts: number[] = [];
    const result = retry(
      async () => {
        starts.push(Date.now());
        throw new FanoutError("network", "x");
      },
      { attempts: 4, baseDelayMs: 100, maxDelayMs: 250, decide: always, random: () => 0.999 },
    );
    await vi.runAllTimersAsync();
    await result;
    const gaps = starts.slice(1).map((start, i) => start - starts[i]!);
    expect(gaps).toEqual([99, 199, 249]);
  });

  it("honours a longer Retry-After, but never sleeps past the deadline", async () => {
    const deadline = Deadline.after(1000);
    const operation = vi.fn(async () => "busy");
    const result = retry(operation, { attempts: 5, deadline, decide: () => ({ retry: true, afterMs: 5000 }) });
    await vi.advanceTimersByTimeAsync(0);
    await expect(result).resolves.toEqual({ ok: true, value: "busy", attempts: 1 });
    expect(operation).toHaveBeenCalledTimes(1);
    deadline.dispose();
  });

  it("uses Retry-After when it is within the deadline", async () => {
    const starts: number[] = [];
    const result = retry(
      async () => {
        starts.push(Date.now());
        return starts.length < 2 ? "busy" : "done";
      },
      { attempts: 3, random: () => 0, decide: (outcome) => ({ retry: outcome.ok && outcome.value === "busy", afterMs: 2000 }) },
    );
    await vi.runAllTimersAsync();
    await expect(result).resolves.toMatchObject({ value: "done", attempts: 2 });
    expect(starts[1]! - starts[0]!).toBe(2000);
  });

  it("stops promptly when the signal aborts during a backoff", async () => {
    const controller = new AbortController();
    const operation = vi.fn(() => Promise.reject(new FanoutError("network", "x")));
    const result = retry(operation, { attempts: 5, baseDelayMs: 10_000, random: half, decide: always, signal: controller.signal });
    await vi.advanceTimersByTimeAsync(10);
    controller.abort(new FanoutError("cancelled", "client left"));
    await expect(result).resolves.toMatchObject({ ok: false, attempts: 1 });
    expect(operation).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("with a deadline AND a signal, the signal still stops a Retry-After wait at once", async () => {
    const deadline = Deadline.after(60_000);
    const controller = new AbortController();
    const operation = vi.fn(async () => "busy");
    const result = retry(operation, {
      attempts: 3,
      deadline,
      signal: controller.signal,
      random: () => 0,
      decide: () => ({ retry: true, afterMs: 5_000 }),
    });
    await vi.advanceTimersByTimeAsync(200);
    controller.abort(new FanoutError("cancelled", "the mode stopped"));
    await vi.advanceTimersByTimeAsync(0);
    await expect(result).resolves.toMatchObject({ ok: false, attempts: 1, error: { code: "cancelled", detail: "the mode stopped" } });
    expect(operation).toHaveBeenCalledTimes(1);
    deadline.dispose();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("lets a budget veto a retry", async () => {
    const result = await retry(async () => "503", { attempts: 3, decide: always, beforeRetry: () => false });
    expect(result.attempts).toBe(1);
  });

  it("checks its options eagerly", async () => {
    await expect(retry(async () => 1, { attempts: 0, decide: always })).rejects.toThrow(RangeError);
    await expect(retry(async () => 1, { attempts: 11, decide: always })).rejects.toThrow(RangeError);
  });
});

describe("parseRetryAfter", () => {
  it("reads delta-seconds and HTTP-dates", () => {
    const now = Date.parse("2026-11-25T12:00:00Z");
    expect(parseRetryAfter("3", now)).toBe(3000);
    expect(parseRetryAfter("Wed, 25 Nov 2026 12:00:10 GMT", now)).toBe(10_000);
    expect(parseRetryAfter("Wed, 25 Nov 2026 11:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

describe("httpRetryPolicy", () => {
  const response = (status: number, headers: Record<string, string> = {}) => ({
    ok: true as const,
    value: new Response(null, { status, headers }),
  });

  it("retries idempotent calls on retryable statuses, network errors and timeouts only", () => {
    const decide = httpRetryPolicy("GET");
    for (const status of [408, 429, 502, 503, 504]) expect(decide(response(status)).retry).toBe(true);
    for (const status of [200, 400, 404, 500, 501]) expect(decide(response(status)).retry).toBe(false);
    expect(decide({ ok: false, error: new FanoutError("network", "x") }).retry).toBe(true);
    expect(decide({ ok: false, error: new FanoutError("timeout", "x") }).retry).toBe(true);
    expect(decide({ ok: false, error: new FanoutError("deadline_exceeded", "x") }).retry).toBe(false);
    expect(decide({ ok: false, error: new FanoutError("forbidden_target", "x") }).retry).toBe(false);
  });

  it("never retries a POST without an idempotency key, and does with one", () => {
    expect(httpRetryPolicy("POST")(response(503)).retry).toBe(false);
    expect(httpRetryPolicy("POST", "key-1")(response(503)).retry).toBe(true);
  });

  it("passes Retry-After on", () => {
    expect(httpRetryPolicy("GET")(response(429, { "retry-after": "2" }))).toEqual({ retry: true, afterMs: 2000 });
  });
});
