import { describe, expect, it } from "vitest";
import { all } from "../../../lib/async/combinators";
import { sleep } from "../../../lib/async/timers";
import { FanoutError } from "../../../lib/base/errors";
import { controllable, flush } from "../helpers";

const valueAfter =
  <T>(ms: number, value: T) =>
  (signal: AbortSignal) =>
    sleep(ms, { signal }).then(() => value);
const failAfter =
  (ms: number, code: "network" | "timeout" = "network") =>
  async (signal: AbortSignal) => {
    await sleep(ms, { signal });
    throw new FanoutError(code, `failed after ${ms}`);
  };

describe("all", () => {
  it("returns values in input order, not completion order", async () => {
    expect(await all([valueAfter(30, "a"), valueAfter(5, "b"), valueAfter(15, "c")])).toEqual(["a", "b", "c"]);
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
    const result = all([stubborn, valueAfter(10_000, "x")], { signal: controller.signal });
    await flush();
    controller.abort(new FanoutError("deadline_exceeded", "deadline"));
    await expect(result).rejects.toMatchObject({ code: "deadline_exceeded" });
    expect(seen?.aborted).toBe(true);
  });

  it("handles an empty list", async () => {
    expect(await all([])).toEqual([]);
  });
});
