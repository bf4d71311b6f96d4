import type { ExecutionContext as HonoExecutionContext } from "hono";
import { parseConfig } from "../lib/base/config";
import { createLogger, describeError } from "../lib/base/log";
import type { InProcessHandler } from "../lib/batch/service";
import { deliverAfterJob, deliverCallback, runJob, type JobMessage } from "../lib/jobs/runner";

/**
 * The Queue consumer: long async jobs (`run`) and callback deliveries (`deliver`). A delivery that
 * should be tried again is retried with the schedule's delay; one that used every attempt is sent
 * to the dead-letter queue. A message it cannot read is never acknowledged unread: it is retried
 * and, after max_retries, lands in the dead-letter queue too.
 */
export async function handleQueue(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext, inProcess: InProcessHandler): Promise<void> {
  const logger = createLogger("info", { queue: batch.queue });
  let config;
  try {
    config = parseConfig(env as unknown as Record<string, unknown>);
  } catch (error) {
    logger.log("error", "invalid configuration; retrying the batch later", describeError(error));
    batch.retryAll({ delaySeconds: 60 });
    return;
  }
  const host = { env, config, executionCtx: ctx as unknown as HonoExecutionContext, inProcess };

  for (const message of batch.messages) {
    const body = message.body as Partial<JobMessage> | null;
    try {
      if (body?.kind === "run" && typeof body.jobId === "string") {
        const job = await runJob(body.jobId, host);
        // The consumer has no waitUntil window to fit: the first delivery happens right here.
        if (job?.record.callback?.state === "pending") await deliverAfterJob(body.jobId, host, Number.POSITIVE_INFINITY);
        message.ack();
      } else if (body?.kind === "deliver" && typeof body.jobId === "string") {
        const step = await deliverCallback(body.jobId, host);
        if (step.next === "retry") message.retry({ delaySeconds: step.delaySeconds });
        else {
          if (step.next === "dead") await env.JOBS_DLQ.send(body);
          message.ack();
        }
      } else {
        logger.log("warn", "unknown message kind; retrying later", { messageId: message.id, attempts: message.attempts });
        message.retry({ delaySeconds: 60 });
      }
    } catch (error) {
      logger.log("error", "message failed; retrying later", { messageId: message.id, ...describeError(error) });
      message.retry({ delaySeconds: 30 });
    }
  }
}
