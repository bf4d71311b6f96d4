import { createLogger, describeError } from "../base/log";
import { insertAudit, type QueuedAuditRecord, QueuedAuditRecordSchema } from "./audit";

/** Seconds before a queue batch D1 refused is delivered again (the queue's max_retries, then its DLQ, bound the tries). */
export const AUDIT_RETRY_DELAY_SECONDS = 30;

/**
 * The `fanout-audit` consumer: every readable record of the queue batch is written with ONE D1 batch
 * (INSERT OR IGNORE on record_id, so a redelivered record stays one row), then acknowledged. A message
 * it cannot read is acknowledged and logged, never written nor retried. If D1 refuses the batch, the
 * whole queue batch is retried.
 */
export async function consumeAuditMessages(batch: MessageBatch<unknown>, env: { DB: D1Database }): Promise<void> {
  const logger = createLogger("info", { queue: batch.queue });
  const readable: Array<{ message: Message<unknown>; record: QueuedAuditRecord }> = [];
  for (const message of batch.messages) {
    const parsed = QueuedAuditRecordSchema.safeParse(message.body);
    if (parsed.success) readable.push({ message, record: parsed.data });
    else {
      logger.log("warn", "unreadable audit message; dropped", { messageId: message.id, attempts: message.attempts });
      message.ack();
    }
  }
  if (readable.length === 0) return;
  try {
    await env.DB.batch(readable.map(({ record }) => insertAudit(env.DB, record)));
  } catch (error) {
    logger.log("error", "audit batch write failed; retrying the batch later", { records: readable.length, ...describeError(error) });
    batch.retryAll({ delaySeconds: AUDIT_RETRY_DELAY_SECONDS });
    return;
  }
  for (const { message } of readable) message.ack();
}
