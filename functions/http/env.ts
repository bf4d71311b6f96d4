import type { ExecutionContext } from "hono";
import type { RequestIdVariables } from "hono/request-id";
import type { TimingVariables } from "hono/timing";
import type { Config } from "../../lib/base/config";
import type { Logger } from "../../lib/base/log";
import type { StepCounts } from "../../lib/batch/scheduler";

/** The gateway's own fetch (the composition root passes `app.fetch`): answers in-process `/v1/sim/` calls. */
export type AppFetch = (request: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response>;

/** The Hono environment every route group shares: bindings from wrangler types, per-request variables. */
export interface AppEnv {
  Bindings: Env;
  Variables: RequestIdVariables &
    TimingVariables & {
      config: Config;
      logger: Logger;
      /** The id (never the key) of the API key that authenticated the request. */
      apiKeyId?: string;
      /** A batch's step counts for the access log (access-log.ts): a promise when the answer streams. */
      batchCounts?: StepCounts | Promise<StepCounts | undefined>;
    };
}
