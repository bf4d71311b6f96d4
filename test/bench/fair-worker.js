// The fair anchor of fanout's benchmarks: the Worker a careful team would write by hand to make N
// upstream calls at once and give every call the guarantees fanout's http step gives it
// (lib/batch/steps/http-call.ts, lib/base/http.ts), no more and no less:
//   - the target's origin checked against an allow-list before any request is made;
//   - a per-call timeout that really aborts the call (an AbortController, not a race);
//   - a `traceparent` continuing the caller's trace with a fresh span id per call, and an attempt header;
//   - redirects not followed blindly (`redirect: "manual"`): each Location is checked against the
//     allow-list again, and at most `maxRedirects` are followed;
//   - the body read under a byte cap per call and a byte budget shared by the whole batch, so a huge
//     answer is never buffered whole;
//   - the upstream's headers copied into the result (minus hop-by-hop ones and Set-Cookie);
//   - the same result record as fanout's http step: { ok, status, headers, body, bytes, attempts,
//     hedged, coalesced, startMs, durationMs } with { code, message } errors, keyed s0..sN-1, under
//     { completed, mode, durationMs, counts }.
// It does not retry, hedge, coalesce or keep circuit breakers: those are fanout features a step asks
// for, not per-call guarantees, and a hand-written Worker that wants them writes more code.
// Plain JavaScript, no dependencies: what runs is what you read.
//
// POST /__fair/all           { "urls": [...], "maxRedirects"?: 0-5, "timeoutMs"?: ms } -> the batch answer
// POST /__fair/all?slots=6   the same behind a six-slot limiter, holding a call's slot until its body has been
//                            read (`release=body`, the default) or until its headers arrive (`release=headers`)
// The allow-list is the ALLOWLIST binding: origins, comma-separated (e.g. "https://api.example.com").

// The same limits fanout ships with (lib/base/config.ts, lib/base/limits.ts).
const DEFAULT_TIMEOUT_MS = 10_000; // DEFAULT_TIMEOUT_MS
const MAX_CALL_BYTES = 1024 * 1024; // MAX_STEP_RESPONSE_BYTES
const MAX_BATCH_BYTES = 8 * 1024 * 1024; // MAX_BATCH_RESPONSE_BYTES
const MAX_REDIRECTS = 5; // MAX_REDIRECTS
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// Response headers a caller should never see relayed: hop-by-hop ones and cookies meant for us.
const STRIPPED_HEADERS = new Set(["set-cookie", "connection", "keep-alive", "transfer-encoding", "proxy-authenticate"]);
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const TEXTUAL = /^(text\/|application\/(xml|javascript|x-www-form-urlencoded))|\+xml/;
const UTF8 = new TextDecoder(); // stateless for one-shot decode(): one per isolate

/** A call's failure, with the same codes fanout's step results use. */
class CallError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// The allow-list is parsed once per isolate (env is the same object for every request of a deployment).
let allowListFor;
let allowList;
function allowedOrigins(env) {
  if (allowListFor !== env) {
    allowList = new Set(
      String(env.ALLOWLIST ?? "")
        .split(",")
        .map((origin) => origin.trim())
        .filter(Boolean),
    );
    allowListFor = env;
  }
  return allowList;
}

/** Parses `target` (against `base` for a relative Location) and refuses anything not on the allow-list. */
function checkTarget(target, origins, base, code = "forbidden_target") {
  let url;
  try {
    url = new URL(target, base);
  } catch {
    throw new CallError(code, "not a valid absolute URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CallError(code, `scheme ${url.protocol} is not allowed`);
  if (url.username || url.password) throw new CallError(code, "URLs with credentials are not allowed");
  if (!origins.has(url.origin)) throw new CallError(code, `${url.origin} is not on the allow-list`);
  return url;
}

const hex = (bytes) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (byte) => byte.toString(16).padStart(2, "0")).join("");

/** Continues the caller's W3C trace (or starts one); `child()` is a traceparent with a fresh span id. */
function traceOf(incoming) {
  const match = incoming ? TRACEPARENT.exec(incoming.trim().toLowerCase()) : null;
  const traceId = match && !/^0+$/.test(match[1]) ? match[1] : hex(16);
  const flags = match?.[3] ?? "01";
  return { child: () => `00-${traceId}-${hex(8)}-${flags}` };
}

/**
 * Reads a body under the call's cap and the batch's shared budget: a declared Content-Length is
 * checked and charged up front and read natively in one go; without one, chunk by chunk, stopping
 * (and cancelling the stream) as soon as a limit is passed.
 */
async function readCapped(response, budget) {
  const declared = Number(response.headers.get("content-length"));
  const hasDeclared = response.headers.has("content-length") && Number.isFinite(declared);
  if (hasDeclared && declared > MAX_CALL_BYTES) {
    await response.body?.cancel();
    throw new CallError("response_too_large", `the body exceeds ${MAX_CALL_BYTES} bytes`);
  }
  if (!response.body) return new Uint8Array();
  if (hasDeclared && !response.headers.has("content-encoding")) {
    if (declared > budget.left) {
      await response.body.cancel();
      throw new CallError("response_too_large", `the responses together exceed ${MAX_BATCH_BYTES} bytes`);
    }
    budget.left -= declared;
    return new Uint8Array(await response.arrayBuffer());
  }
  const reader = response.body.getReader();
  const chunks = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > MAX_CALL_BYTES) throw new CallError("response_too_large", `the body exceeds ${MAX_CALL_BYTES} bytes`);
      if (value.byteLength > budget.left)
        throw new CallError("response_too_large", `the responses together exceed ${MAX_BATCH_BYTES} bytes`);
      budget.left -= value.byteLength;
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** The body as the result shows it: JSON parsed, text as text, anything else base64. */
function decode(bytes, contentType) {
  if (bytes.byteLength === 0) return null;
  if (/json/.test(contentType)) {
    const text = UTF8.decode(bytes);
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  if (TEXTUAL.test(contentType) || contentType === "") return UTF8.decode(bytes);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return { base64: btoa(binary) };
}

/** One call with every guarantee; never throws: a failure is a result with `ok: false`. */
async function call(target, { origins, trace, budget, maxRedirects, timeoutMs, started, slot }) {
  const startMs = Date.now() - started; // when the call started, from the start of the batch (as fanout's startMs)
  // The timeout must stop the work, not just stop waiting for it: one controller aborts the fetch and
  // the body read alike, its reason the result's error; the timer is cleared whatever happens.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new CallError("timeout", `no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    let url = checkTarget(target, origins); // refused before any request exists
    // A span of the caller's trace per call, and the attempt number (this Worker makes one attempt).
    const headers = { traceparent: trace.child(), "x-attempt": "1" };
    let response;
    for (let redirects = 0; ; redirects++) {
      try {
        // manual: a redirect comes back to us instead of being followed to wherever it points.
        response = await fetch(url, { headers, redirect: "manual", signal: controller.signal });
      } catch (error) {
        if (controller.signal.aborted) throw controller.signal.reason; // our timeout, not the network
        throw new CallError("network", `could not reach the upstream: ${error.message}`);
      }
      const location = REDIRECT_STATUSES.has(response.status) ? response.headers.get("location") : null;
      if (!location) break; // the final answer
      await response.body?.cancel(); // a redirect's body is never read
      if (redirects >= maxRedirects) throw new CallError("redirect_blocked", `more than ${maxRedirects} redirects`);
      url = checkTarget(location, origins, url.href, "redirect_blocked"); // every hop checked against the allow-list again
    }
    slot?.headersArrived(); // the six-slot model: a limiter that frees a slot at headers frees it here
    let bytes;
    try {
      bytes = await readCapped(response, budget);
    } catch (error) {
      if (controller.signal.aborted) throw controller.signal.reason;
      if (error instanceof CallError) throw error; // a limit passed
      throw new CallError("network", "the upstream connection failed while reading the body");
    }
    // The upstream's headers go into the result, minus those that are about this hop or set cookies on us.
    const visible = {};
    response.headers.forEach((value, name) => {
      if (!STRIPPED_HEADERS.has(name)) visible[name] = value;
    });
    const ok = response.status >= 200 && response.status < 300;
    // The record fanout's http step gives: a non-2xx answer is a failed call that keeps its data.
    return {
      ok,
      status: response.status,
      headers: visible,
      body: decode(bytes, response.headers.get("content-type") ?? ""),
      bytes: bytes.byteLength,
      attempts: 1,
      hedged: false,
      coalesced: false,
      ...(ok ? {} : { error: { code: "http_status", message: `the upstream answered ${response.status}` } }),
      startMs,
      durationMs: Date.now() - started - startMs,
    };
  } catch (error) {
    // Our own failures carry their code; anything else is a bug, and its details stay out of the answer.
    const known = error instanceof CallError;
    return {
      ok: false,
      error: { code: known ? error.code : "internal", message: known ? error.message : "internal error" },
      attempts: 1,
      coalesced: false,
      startMs,
      durationMs: Date.now() - started - startMs,
    };
  } finally {
    clearTimeout(timer); // no timer outlives its call
  }
}

/** A semaphore of `slots` slots: `acquire()` waits for a free slot, in call order, and resolves with the function that frees it. */
function limiter(slots) {
  let active = 0;
  const waiting = [];
  const release = () => {
    const next = waiting.shift();
    if (next)
      next(); // handed over by the one that frees it
    else active--;
  };
  return async () => {
    if (active < slots) active++;
    else await new Promise((resolve) => waiting.push(resolve));
    let released = false;
    return () => {
      if (!released) {
        released = true;
        release();
      }
    };
  };
}

export default {
  async fetch(request, env) {
    const { pathname, searchParams } = new URL(request.url);
    if (request.method !== "POST" || !pathname.endsWith("/all")) return new Response("not found", { status: 404 });
    const { urls, maxRedirects = MAX_REDIRECTS, timeoutMs = DEFAULT_TIMEOUT_MS } = await request.json();
    const slots = Number(searchParams.get("slots") ?? 0);
    const release = searchParams.get("release") ?? "body";
    if (!Number.isInteger(slots) || slots < 0 || (release !== "body" && release !== "headers"))
      return new Response("slots must be a whole number, release body or headers", { status: 400 });
    const started = Date.now();
    // What the calls of one request share: the allow-list, the caller's trace, the batch's byte budget, the options.
    const shared = {
      origins: allowedOrigins(env),
      trace: traceOf(request.headers.get("traceparent")),
      budget: { left: MAX_BATCH_BYTES },
      maxRedirects,
      timeoutMs,
      started,
    };
    const acquire = slots > 0 ? limiter(slots) : undefined;
    const settled = await Promise.all(
      urls.map(async (url) => {
        if (!acquire) return call(url, shared); // no limiter: every call at once
        const free = await acquire(); // wait for one of the slots
        try {
          return await call(url, { ...shared, slot: { headersArrived: release === "headers" ? free : () => {} } });
        } finally {
          free(); // held until the body was read (release=body), or already freed at headers
        }
      }),
    );
    // The batch answer: every call's record by id (s0, s1, ... in the order of `urls`) and the counts.
    const results = {};
    const counts = { ok: 0, failed: 0, skipped: 0, cancelled: 0 };
    settled.forEach((result, i) => {
      results[`s${i}`] = result;
      counts[result.ok ? "ok" : "failed"]++;
    });
    return Response.json({ completed: counts.failed === 0, mode: "all", durationMs: Date.now() - started, counts, results });
  },
};
