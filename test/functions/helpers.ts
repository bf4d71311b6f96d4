import { exports } from "cloudflare:workers";
import { expect, onTestFinished, vi } from "vitest";

export const BASE = "http://fanout.test";

/** Calls the real worker the way a client would. */
export function call(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(BASE + path, init));
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId?: string;
  invalidParams?: Array<{ name: string; reason: string }>;
}

/** Asserts a problem+json answer and returns its body. */
export async function expectProblem(res: Response, status: number, code: string): Promise<ProblemBody> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const body = (await res.json()) as ProblemBody;
  expect(body).toMatchObject({ status, code, type: `urn:fanout:problem:${code}` });
  expect(body.requestId).toBe(res.headers.get("x-request-id"));
  return body;
}

/** One JSON line of the gateway's log (lib/base/log.ts). */
export interface LogLine {
  level: string;
  message: string;
  requestId?: string;
  [field: string]: unknown;
}

/**
 * The gateway's log lines at `level` (console.warn or console.error), captured instead of printed until the test ends,
 * for a test that provokes them on purpose and asserts them. Any other output at that level still prints.
 */
export function captureLogs(level: "warn" | "error"): () => LogLine[] {
  const original = console[level];
  const lines: LogLine[] = [];
  const spy = vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
    const text = args.map(String).join(" ");
    if (text.startsWith('{"level":')) lines.push(JSON.parse(text) as LogLine);
    else original.apply(console, args);
  });
  onTestFinished(() => spy.mockRestore());
  return () => lines;
}
