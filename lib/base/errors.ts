/**
 * The one error type of fanout. `code` comes from a closed set so clients can branch on it;
 * `status` is the HTTP status a route renders it with; `detail` is safe to show to a client.
 */
const ERROR_STATUS = {
  bad_request: 400,
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  gone: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  forbidden_target: 403,
  redirect_blocked: 502,
  network: 502,
  http_status: 502,
  storage_error: 502,
  response_too_large: 502,
  all_failed: 502,
  limit_exceeded: 400,
  budget_exhausted: 429,
  rate_limited: 429,
  reference_missing: 424,
  skipped: 424,
  timeout: 504,
  deadline_exceeded: 504,
  cancelled: 499,
  not_configured: 503,
  circuit_open: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

/**
 * The codes a step result may carry: the subset of ErrorCode that steps produce. The README's list
 * and the OpenAPI enum come from here (a test holds the README to it). `internal` is a bug, never an
 * answer to input: it is listed so that the type tells the truth.
 */
export const STEP_ERROR_CODES = [
  "timeout",
  "deadline_exceeded",
  "network",
  "http_status",
  "response_too_large",
  "cancelled",
  "skipped",
  "forbidden_target",
  "redirect_blocked",
  "reference_missing",
  "budget_exhausted",
  "circuit_open",
  "limit_exceeded",
  "not_found",
  "validation_failed",
  "storage_error",
  "internal",
] as const satisfies readonly ErrorCode[];

export type StepErrorCode = (typeof STEP_ERROR_CODES)[number];

/**
 * 5xx codes that are the answer, not a gateway bug: an upstream or a step failed (timed out, was
 * unreachable, answered with an error status, sits behind an open circuit, or a reference it needed
 * is missing). The client is told; the gateway does not log them as its own errors.
 */
export const EXPECTED_FAILURE_CODES: ReadonlySet<ErrorCode> = new Set([
  "timeout",
  "deadline_exceeded",
  "network",
  "http_status",
  "circuit_open",
  "reference_missing",
]);

/** Whether a code may stand in a step result. */
export function isStepErrorCode(code: ErrorCode): code is StepErrorCode {
  return (STEP_ERROR_CODES as readonly ErrorCode[]).includes(code);
}

export interface InvalidParam {
  /** JSON path or parameter name, e.g. `ms`, `steps[2].http.url`. */
  name: string;
  reason: string;
}

export interface FanoutErrorOptions {
  status?: number;
  invalidParams?: InvalidParam[];
  cause?: unknown;
  /** Extra headers a route should send with the error (e.g. `Allow` on a 405). */
  headers?: Record<string, string>;
  /** Errors that were aggregated into this one (`any` with no success). */
  errors?: unknown[];
  /** For a private code: what a client may be told instead of the generic line (e.g. which composite is misconfigured). */
  safeDetail?: string;
}

/** `new FanoutError(code, detail, options)`: the one error type, rendered once as problem+json. */
export class FanoutError extends Error {
  override readonly name = "FanoutError";
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string;
  readonly invalidParams: InvalidParam[];
  readonly headers: Record<string, string>;
  readonly errors: unknown[];
  readonly safeDetail: string | undefined;

  constructor(code: ErrorCode, detail: string, options: FanoutErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status ?? ERROR_STATUS[code];
    this.detail = detail;
    this.invalidParams = options.invalidParams ?? [];
    this.headers = options.headers ?? {};
    this.errors = options.errors ?? [];
    this.safeDetail = options.safeDetail;
  }
}

/** Whether a thrown value is a FanoutError. */
export function isFanoutError(value: unknown): value is FanoutError {
  return value instanceof FanoutError;
}

/** Codes whose detail may carry operator-only information: a client never sees it. */
export const PRIVATE_DETAIL_CODES: ReadonlySet<ErrorCode> = new Set(["internal", "not_configured"]);

/**
 * The one redaction rule: what a client may be shown of an error (a problem's `detail`, a failed
 * job's message). Private details are replaced by a line that points at the request id.
 */
export function publicDetail(error: FanoutError, requestId?: string): string {
  if (!PRIVATE_DETAIL_CODES.has(error.code)) return error.detail;
  const quote = `quote request id ${requestId ?? "(none)"} to its operator`;
  return error.safeDetail ? `${error.safeDetail}; ${quote}` : `the gateway could not handle this request; ${quote}`;
}

/** `name: reason; name: reason`, the detail line of a list of invalid params. */
export function describeInvalid(params: readonly InvalidParam[]): string {
  return params.map((param) => `${param.name}: ${param.reason}`).join("; ");
}

/** A validation failure naming the offending parameter and the rule it broke. */
export function invalid(name: string, reason: string): FanoutError {
  return new FanoutError("validation_failed", `${name}: ${reason}`, { invalidParams: [{ name, reason }] });
}

/**
 * Normalises anything thrown by an operation into a FanoutError. An aborted signal's reason wins
 * over the error it caused, so a timeout is reported as a timeout and not as "The operation was aborted".
 */
export function toFanoutError(error: unknown, signal?: AbortSignal): FanoutError {
  if (signal?.aborted && isFanoutError(signal.reason)) return signal.reason;
  if (isFanoutError(error)) return error;
  if (isAbortError(error)) return new FanoutError("cancelled", "the operation was cancelled", { cause: error });
  return new FanoutError("internal", "internal error", { cause: error });
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}

/** The reason to reject with when `signal` is aborted, normalised to a FanoutError. */
export function abortReason(signal: AbortSignal): FanoutError {
  const reason: unknown = signal.reason;
  if (reason instanceof FanoutError) return reason;
  return new FanoutError("cancelled", "the operation was cancelled", { cause: reason });
}
