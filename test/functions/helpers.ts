import { exports } from "cloudflare:workers";
import { expect } from "vitest";

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
