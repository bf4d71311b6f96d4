import { describe, expect, it } from "vitest";
import { all, allSettled, any, asCompleted, race } from "../../lib/async/combinators";
import { FanoutError } from "../../lib/base/errors";
import { sleep } from "../../lib/async/timers";
import { controllable, flush } from "./helpers";

const after = <T>(ms: number, value: T) => (signal: AbortSignal) => sleep(ms, { signal }).then(() => value);
const failAfter = (ms: number, code: "network" | "timeout" = "network") => async (signal: AbortSignal) => {
  await sleep(ms, { signal });
  throw new FanoutError(code, `failed after ${ms}`);
};

describe("all", () => {
  it("returns values in input order, not completion order", async () => {
    expect(await all([after(30, "a"), after(5, "b"), after(15, "c")])).toEqual(["a", "b", "c"]);
  });

  it("fails fast and aborts the tasks still running", async () => {
    const slow = controllable<string>();
    const result = all([slow.task, failAfter(5)]);
    await expect(result).rejects.toMatchObject({ code: "network" });
    expect(slow.state.signal?.aborted).toBe(true);
    expect(slow.state.signal?.reason).toMatchObject({ code: "cancelled" });
  });

  it("aborts every task when the caller's signal aborts, even tasks that ignore it", async () => {
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    const stubborn = (signal: AbortSignal) => {
      seen = signal;
      return new Promise<string>(() => {});
    };
    const result = all([stubborn, after(10_000, "x")], { signal: controller.signal });
    await flush();
    controller.abort(new FanoutError("deadline_exceeded", "deadline"));
    await expect(result).rejects.toMatchObject({ code: "deadline_exceeded" });
    expect(seen?.aborted).toBe(true);
  });

  it("handles an empty list", async () => {
    expect(await all([])).toEqual([]);
  });
});

describe("allSettled", () => {
  it("reports every outcome in input order with typed errors", async () => {
    const results = await allSettled([after(10, 1), failAfter(5), () => Promise.reject(new Error("plain"))]);
    expect(results[0]).toEqual({ status: "fulfilled", value: 1 });
    expect(results[1]).toMatchObject({ status: "rejected", reason: { code: "network" } });
    expect(results[2]).toMatchObject({ status: "rejected", reason: { code: "internal" } });
  });
});

describe("any", () => {
  it("returns the first success and aborts the losers", async () => {
    const loser = controllable<string>();
    const value = await any([failAfter(1), loser.task, after(10, "winner")]);
    expect(value).toBe("winner");
    expect(loser.state.signal?.aborted).toBe(true);
  });

  it("rejects with all_failed carrying every error when nothing succeeds", async () => {
    const error = await any([failAfter(5, "network"), failAfter(1, "timeout")]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "all_failed", status: 502 });
    expect((error as FanoutError).errors).toMatchObject([{ code: "network" }, { code: "timeout" }]);
  });
});

describe("race", () => {
  it("settles with the first to settle, success or failure, and aborts the rest", async () => {
    const loser = controllable<string>();
    await expect(race([loser.task, failAfter(2)])).rejects.toMatchObject({ code: "network" });
    expect(loser.state.signal?.aborted).toBe(true);
    const other = controllable<string>();
    await expect(race([other.task, after(2, "fast")])).resolves.toBe("fast");
    expect(other.state.signal?.aborted).toBe(true);
  });
});

describe("asCompleted", () => {
  it("yields in completion order with each task's index", async () => {
    const seen: Array<[number, unknown]> = [];
    for await (const { index, result } of asCompleted([after(30, "slow"), after(1, "fast"), failAfter(10)])) {
      seen.push([index, result.status === "fulfilled" ? result.value : result.reason.code]);
    }
    expect(seen).toEqual([
      [1, "fast"],
      [2, "network"],
      [0, "slow"],
    ]);
  });

  it("aborts the remaining tasks when the consumer stops early", async () => {
    const pending = controllable<string>();
    for await (const { index } of asCompleted([pending.task, after(1, "first")])) {
      expect(index).toBe(1);
      break;
    }
    expect(pending.state.signal?.aborted).toBe(true);
  });
});
