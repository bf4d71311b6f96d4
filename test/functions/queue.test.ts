import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../functions/index";
import { captureLogs } from "./helpers";

describe("queue consumer", () => {
  it("never acknowledges a message it cannot handle: it is retried (and ends in the DLQ)", async () => {
    const warnings = captureLogs("warn");
    const batch = createMessageBatch("fanout-jobs", [{ id: "m1", timestamp: new Date(), attempts: 1, body: { kind: "unknown" } }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages.map((message: { msgId: string }) => message.msgId)).toEqual(["m1"]);
    expect(warnings()).toEqual([
      expect.objectContaining({ message: "unknown message kind; retrying later", messageId: "m1", attempts: 1 }),
    ]);
  });
});
