import type { LogLevel } from "./config";

/** One structured JSON line per event, so logs can be queried in Workers Logs. Never log bodies or secrets. */

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  log(level: LogLevel, message: string, fields?: LogFields): void;
}

/** A logger that writes one JSON line per event at or above `minimum`, with `base` fields on every line. */
export function createLogger(minimum: LogLevel, base: LogFields = {}): Logger {
  return {
    log(level, message, fields = {}) {
      if (RANK[level] < RANK[minimum]) return;
      const line = JSON.stringify({ level, message, time: new Date().toISOString(), ...base, ...fields });
      if (level === "error") console.error(line);
      else if (level === "warn") console.warn(line);
      else console.log(line);
    },
  };
}

/** An error as loggable fields: its code and message, never a stack with request data in it. */
export function describeError(error: unknown): LogFields {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { error: error.message, errorName: error.name, ...(typeof code === "string" ? { errorCode: code } : {}) };
  }
  return { error: String(error) };
}
