import { describe, expect, it, vi } from "vitest";
import { runAfterResponse } from "../../../lib/async/after";
import { FanoutError } from "../../../lib/base/errors";
import type { Logger } from "../../../lib/base/log";

function fakeContext() {
  const promises: Promise<unknown>[] = [];
  return { waitUntil: (promise: Promise<unknown>) => promises.push(promise), promises };
}

describe("runAfterResponse", () => {
  it("hands the work to waitUntil and runs it", async () => {
    const ctx = fakeContext();
    const logger: Logger = { log: vi.fn() };
    let ran = false;
    runAfterResponse(
      async () => {
        ran = true;
      },
      { waitUntil: ctx.waitUntil, task: "t", requestId: "r1", logger },
    );
    expect(ctx.promises).toHaveLength(1);
    await Promise.all(ctx.promises);
    expect(ran).toBe(true);
    expect(logger.log).not.toHaveBeenCalled();
  });

  it("catches a failure and logs it as one structured line, never rejecting", async () => {
    const ctx = fakeContext();
    const logger: Logger = { log: vi.fn() };
    const guarded = runAfterResponse(
      async () => {
        throw new FanoutError("network", "webhook receiver down");
      },
      { waitUntil: ctx.waitUntil, task: "webhook", requestId: "r2", logger },
    );
    await expect(guarded).resolves.toBeUndefined();
    expect(logger.log).toHaveBeenCalledWith(
      "error",
      "post-response task failed",
      expect.objectContaining({ requestId: "r2", task: "webhook", error: "webhook receiver down", errorCode: "network" }),
    );
  });

  it("bounds the work with its own timeout and aborts it", async () => {
    const ctx = fakeContext();
    const logger: Logger = { log: vi.fn() };
    let seen: AbortSignal | undefined;
    await runAfterResponse(
      (signal) => {
        seen = signal;
        return new Promise(() => {});
      },
      { waitUntil: ctx.waitUntil, task: "slow", requestId: "r3", logger, timeoutMs: 20 },
    );
    expect(seen?.aborted).toBe(true);
    expect(logger.log).toHaveBeenCalledWith(
      "error",
      "post-response task failed",
      expect.objectContaining({ task: "slow", errorCode: "timeout" }),
    );
  });
});
