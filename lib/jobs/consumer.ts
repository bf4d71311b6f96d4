import { type Config, configOf } from "../base/config";
import { createLogger, describeError } from "../base/log";
import type { InProcessHandler } from "../batch/in-process";
import { deliverAfterJob, deliverCallback, type JobMessage, jobHost, runJob } from "./runner";

/**
 * The Queue consumer: long async jobs (`run`) and callback deliveries (`deliver`). A delivery that
 * should be tried again is retried with the schedule's delay; one that used every attempt is sent
 * to the dead-letter queue. A message it cannot read is never acknowledged unread: it is retried
 * and, after max_retries, lands in the dead-letter queue too.
 */
export async function consumeJobMessages(batch: MessageBatch<unknown>, env: Env, serveInProcess: InProcessHandler): Promise<void> {
  const logger = createLogger("info", { queue: batch.queue });
  let config: Config;
  try {
    config = configOf(env);
  } catch (error) {
    logger.log("error", "invalid configuration; retrying the batch later", describeError(error));
    batch.retryAll({ delaySeconds: 60 });
    return;
  }
  const host = jobHost(env, config, serveInProcess);

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
          if (step.next === "dead") await host.queues.deadLetters.send({ kind: "deliver", jobId: body.jobId });
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
