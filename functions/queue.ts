import { createLogger } from "../lib/log";

/**
 * The Queue consumer. No message kind is defined yet (durable webhook delivery will be the first);
 * until then a message is never acknowledged unread: it is logged and retried later, and after
 * max_retries it lands in the dead-letter queue, where nothing is lost.
 */
export async function handleQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const logger = createLogger(env.LOG_LEVEL === "debug" ? "debug" : "warn", { queue: batch.queue });
  for (const message of batch.messages) {
    logger.log("warn", "no consumer for this message kind yet; retrying later", { messageId: message.id, attempts: message.attempts });
    message.retry({ delaySeconds: 60 });
  }
}
