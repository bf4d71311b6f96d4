import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { methodNotAllowed } from "hono/method-not-allowed";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import { timing } from "hono/timing";
import pkg from "../package.json";
import { parseConfig } from "../lib/config";
import { FanoutError, isFanoutError } from "../lib/errors";
import { createLogger, describeError } from "../lib/log";
import type { AppEnv } from "./env";
import examples from "./examples";
import health from "./health";
import { PROBLEM_CONTENT_TYPE, toProblem } from "./problem";
import { handleQueue } from "./queue";
import { validationError } from "./router";
import sim from "./sim";

/** The Worker entry and the one composition root: global middleware, error rendering, route groups. */

const app = new OpenAPIHono<AppEnv>({
  defaultHook: (result) => {
    if (!result.success) throw validationError(result.error, result.target);
  },
});

function problem(c: Context<AppEnv>, error: FanoutError): Response {
  const body = toProblem(error, new URL(c.req.url).pathname, c.var.requestId);
  return c.body(JSON.stringify(body), error.status as 400, { ...error.headers, "content-type": PROBLEM_CONTENT_TYPE });
}

app.use(requestId());
app.use(secureHeaders());
app.use(timing({ totalDescription: "fanout total" }));
app.use(
  methodNotAllowed({
    app,
    onMethodNotAllowed: (c, methods) =>
      problem(c, new FanoutError("method_not_allowed", `${c.req.method} is not allowed here; use ${methods.join(", ")}`, { headers: { allow: methods.join(", ") } })),
  }),
);
app.use(async (c, next) => {
  c.set("logger", createLogger("info", { requestId: c.var.requestId }));
  const config = parseConfig(c.env as unknown as Record<string, unknown>);
  c.set("config", config);
  c.set("logger", createLogger(config.LOG_LEVEL, { requestId: c.var.requestId }));
  await next();
});

app.route("/", health);
app.route("/v1/sim", sim);
app.route("/v1/examples", examples);

app.doc31("/openapi.json", {
  openapi: "3.1.0",
  info: {
    title: "fanout",
    version: pkg.version,
    description: "Edge fan-out gateway: one HTTPS call in, many concurrent I/O operations behind it.",
  },
});

app.notFound((c) => problem(c, new FanoutError("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`)));

app.onError((error, c) => {
  const fanoutError = isFanoutError(error) ? error : new FanoutError("internal", "internal error", { cause: error });
  if (fanoutError.status >= 500 && !["timeout", "deadline_exceeded", "network", "http_status"].includes(fanoutError.code)) {
    const logger = c.var.logger ?? createLogger("error", { requestId: c.var.requestId });
    logger.log("error", "request failed", { code: fanoutError.code, ...describeError(fanoutError.cause ?? error), detail: fanoutError.detail });
  }
  return problem(c, fanoutError);
});

export default {
  fetch: app.fetch,
  queue: handleQueue,
} satisfies ExportedHandler<Env>;

export { app };
