import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import worker from "../../functions/index";
import { BASE } from "./helpers";

export const API_KEY = "test-key-0123456789";
export const UPSTREAM = `http://127.0.0.1:${env.UPSTREAM_PORT}`;
/** The same loopback server under a name that is NOT on the allow-list. */
export const UNLISTED = `http://localhost:${env.UPSTREAM_PORT}`;

export interface StepResultBody {
  ok: boolean;
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  error?: { code: string; message: string; dependency?: string };
  startMs: number;
  durationMs: number;
  attempts?: number;
  hedged?: boolean;
  coalesced?: boolean;
  items?: Array<{ ok: boolean; status?: number; error?: { code: string } }>;
}

export interface BatchBody {
  completed: boolean;
  mode: string;
  durationMs: number;
  counts: { ok: number; failed: number; skipped: number; cancelled: number };
  results: Record<string, StepResultBody>;
}

export function postBatch(body: unknown, headers: Record<string, string> = {}, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(
    new Request(`${BASE}/v1/batch`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
      ...init,
    }),
  );
}

export async function runBatchJson(body: unknown, headers: Record<string, string> = {}): Promise<{ res: Response; json: BatchBody }> {
  const res = await postBatch(body, headers);
  return { res, json: (await res.json()) as BatchBody };
}

/** Calls the worker with some configuration vars replaced. */
export function postBatchWithEnv(vars: Record<string, string>, body: unknown): Promise<Response> {
  return worker.fetch(
    new Request(`${BASE}/v1/batch`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
    { ...env, ...vars },
    createExecutionContext(),
  ) as Promise<Response>;
}

export async function upstreamHits(path: string): Promise<number> {
  return ((await (await fetch(`${UPSTREAM}/__hits?path=${encodeURIComponent(path)}`)).json()) as { hits: number }).hits;
}

export async function upstreamCalls(key: string): Promise<{ at: number[]; aborted: number }> {
  return (await (await fetch(`${UPSTREAM}/__calls?key=${key}`)).json()) as { at: number[]; aborted: number };
}

export async function resetUpstream(): Promise<void> {
  await fetch(`${UPSTREAM}/__reset`);
}

/** What a test builds with createApp: anything that serves a Request as the Worker does. */
interface Served {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response>;
}

/** GET `path` from a gateway a test built (createApp), with the test API key; resolves once its post-response work is done. */
export async function getFrom(app: Served, path: string, headers: Record<string, string> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${BASE}${path}`, { headers: { authorization: `Bearer ${API_KEY}`, ...headers } }), env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** Polls until `check` holds (the upstream sees a closed connection a moment after the abort); false once `timeoutMs` has passed. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 3000): Promise<boolean> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}
