import { type FanoutError, isStepErrorCode, type StepErrorCode } from "../../base/errors";

/** What a step gives back, the same for every kind (the kind modules and the engine both use it). */

/** What an executor returns. `ok: false` with data (an upstream 503, say) carries `error` too. */
export interface StepOutput {
  ok: boolean;
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  error?: StepError;
  attempts?: number;
  hedged?: boolean;
  coalesced?: boolean;
  bytes?: number;
}

export interface StepError {
  /** One of STEP_ERROR_CODES (lib/base/errors.ts), the list the README and the OpenAPI enum show. */
  code: StepErrorCode;
  message: string;
  /** For `skipped`: the dependency that did not succeed. */
  dependency?: string;
  /**
   * For `skipped`: `condition_false` when the skip follows from a false `when`, the step's own or (with
   * `dependency`) the one its dependency was skipped for; absent when a dependency failed.
   */
  reason?: "condition_false";
}

/** A step's error as its result shows it; a code outside STEP_ERROR_CODES is a bug, reported as `internal`. */
export function stepErrorOf(error: FanoutError): StepError {
  return isStepErrorCode(error.code) ? { code: error.code, message: error.detail } : { code: "internal", message: "internal error" };
}
