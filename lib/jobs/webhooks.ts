import { parseRetryAfter } from "../async/retry";
import { withTimeout } from "../async/timers";
import { toBase64 } from "../base/bytes";
import { SECRET_PATTERN } from "../base/config";
import { FanoutError, isFanoutError } from "../base/errors";
import type { Fetcher } from "../base/http";
import { type AllowList, checkTarget } from "../base/policy";

/**
 * Webhook delivery per the Standard Webhooks specification: `webhook-id` (stable across retries),
 * `webhook-timestamp` (unix seconds), `webhook-signature` (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`)
 * with a `whsec_` secret. Redirects are not followed; the target is re-checked at every attempt.
 */

/** Delay before attempt n+1 after attempt n failed: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, ... */
const DELIVERY_SCHEDULE_SECONDS = [5, 300, 1800, 7200, 18000, 36000];

function secretKey(secret: string): Uint8Array {
  if (!SECRET_PATTERN.test(secret)) throw new FanoutError("not_configured", "a webhook secret must look like whsec_<base64>");
  return Uint8Array.from(atob(secret.slice("whsec_".length)), (char) => char.charCodeAt(0));
}

async function signWebhook(secret: string, id: string, timestamp: number, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", secretKey(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${id}.${timestamp}.${body}`));
  return `v1,${toBase64(new Uint8Array(mac))}`;
}

/** The wait before the next attempt: the schedule with +-20% jitter, at least Retry-After, at most the cap. */
export function nextDelaySeconds(
  attempt: number,
  {
    maxDelaySeconds,
    retryAfterSeconds = 0,
    random = Math.random,
  }: { maxDelaySeconds: number; retryAfterSeconds?: number; random?: () => number },
): number {
  const base = DELIVERY_SCHEDULE_SECONDS[Math.min(attempt - 1, DELIVERY_SCHEDULE_SECONDS.length - 1)]!;
  const jittered = Math.round(base * (0.8 + 0.4 * random()));
  return Math.min(maxDelaySeconds, Math.max(jittered, Math.ceil(retryAfterSeconds)));
}

export const DELIVERY_OUTCOMES = ["delivered", "retry", "failed"] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

export interface DeliveryResult {
  outcome: DeliveryOutcome;
  status?: number;
  error?: string;
  retryAfterSeconds?: number;
}

/** 2xx delivered; network errors, timeouts, 429 and 5xx are retried; 410 and everything else fail at once. */
function classifyStatus(status: number): DeliveryOutcome {
  if (status >= 200 && status < 300) return "delivered";
  if (status === 429 || status >= 500) return "retry";
  return "failed";
}

export interface DeliverOptions {
  url: string;
  id: string;
  body: string;
  secret: string;
  allowList: AllowList;
  timeoutMs: number;
  fetcher?: Fetcher;
  now?: () => number;
}

/**
 * One signed delivery attempt. Never throws: the result says delivered (2xx), retry (network
 * errors, timeouts, 429 and 5xx, with Retry-After) or failed for good (a refused target, any other
 * status, 410 Gone among them).
 */
export async function deliverWebhook({
  url,
  id,
  body,
  secret,
  allowList,
  timeoutMs,
  fetcher = (target, init) => fetch(target, init),
  now = Date.now,
}: DeliverOptions): Promise<DeliveryResult> {
  let target: URL;
  try {
    target = checkTarget(url, allowList);
  } catch (error) {
    return { outcome: "failed", error: isFanoutError(error) ? error.detail : "the callback URL is not allowed" };
  }
  const timestamp = Math.floor(now() / 1000);
  const headers = {
    "content-type": "application/json",
    "user-agent": "fanout-webhooks",
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": await signWebhook(secret, id, timestamp, body),
  };
  try {
    const response = await withTimeout((signal) => fetcher(target.href, { method: "POST", headers, body, redirect: "manual", signal }), {
      ms: timeoutMs,
      label: "callback timeout",
    });
    await response.body?.cancel();
    const outcome = classifyStatus(response.status);
    const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
    return {
      outcome,
      status: response.status,
      ...(outcome === "delivered" ? {} : { error: `the receiver answered ${response.status}` }),
      ...(retryAfterMs !== undefined ? { retryAfterSeconds: retryAfterMs / 1000 } : {}),
    };
  } catch (error) {
    const code = isFanoutError(error) ? error.code : "network";
    return { outcome: "retry", error: code === "timeout" ? `no answer within ${timeoutMs} ms` : "could not reach the receiver" };
  }
}
