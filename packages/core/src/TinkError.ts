/**
 * The errors every tink-effect operation can fail with. Each is a tagged class, so callers pick
 * the cases they handle with `Effect.catchTag`. None of them carries a token or a secret: causes
 * are reduced to what explains the failure (a socket error, a parse issue), never a request.
 *
 * @since 0.1.0
 */
import { TypeIdError } from "@effect/platform/Error"
import type * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"

/**
 * Marks every Tink error, so `isTinkError` recognises one by identity rather than by its tag: an
 * unrelated error that happens to share a tag name is not taken for one.
 *
 * @since 0.2.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@tink-effect/core/TinkError")

/**
 * @since 0.2.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * What every Tink error says about the request that failed.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorContext {
  /** HTTP method of the request, or of the operation when the input was rejected before sending. */
  readonly method: string
  /** Request path without query values; ids are validated, so the path holds no secret. */
  readonly path: string
  /** HTTP status, when a response was received. */
  readonly status?: number | undefined
  /** Tink's `errorCode` from the error body, when present. */
  readonly errorCode?: string | undefined
  /** Tink's `errorMessage` from the error body, when present. */
  readonly errorMessage?: string | undefined
  /** The `X-Request-ID` header Tink documents (or `X-Tink-Request-ID`, a `requestId` field), to quote to Tink support. */
  readonly requestId?: string | undefined
  /** What caused it, reduced to safe data (never a request with its headers). */
  readonly cause?: unknown
  /**
   * What the failure most likely means and what to check, when the request makes it clear (e.g.
   * the app's client id or secret was rejected). Never holds a secret.
   */
  readonly hint?: string | undefined
  /** Which step of the operation failed, e.g. `the app token (user:create) for createUser`. */
  readonly step?: string | undefined
}

const describe = (label: string, self: ErrorContext, extra?: string): string => {
  const lead = [self.hint, self.step === undefined ? undefined : `while ${self.step}`].filter((part) =>
    part !== undefined
  )
  const parts = [
    lead.length === 0
      ? `${label}: ${self.method} ${self.path}`
      : `${label}: ${lead.join("; ")}; ${self.method} ${self.path}`
  ]
  if (self.status !== undefined) parts.push(`status ${self.status}`)
  if (self.errorCode !== undefined) parts.push(`code ${self.errorCode}`)
  if (self.errorMessage !== undefined) parts.push(`"${self.errorMessage}"`)
  if (extra !== undefined) parts.push(extra)
  if (self.requestId !== undefined) parts.push(`request id ${self.requestId}`)
  return parts.join(", ")
}

/**
 * Tink refused the credentials or token (401), or the token lacks the scope (403).
 *
 * @since 0.1.0
 * @category errors
 */
export class TinkAuthenticationError extends TypeIdError(TypeId, "TinkAuthenticationError")<ErrorContext> {
  override get message(): string {
    return describe("Tink authentication failed", this)
  }
}

/**
 * Tink is rate limiting this client (429). `retryAfter` is set when Tink said how long to wait.
 *
 * @since 0.1.0
 * @category errors
 */
export class TinkRateLimitError extends TypeIdError(TypeId, "TinkRateLimitError")<
  ErrorContext & { readonly retryAfter?: Duration.Duration | undefined }
> {
  override get message(): string {
    return describe("Tink rate limit reached", this)
  }
}

/**
 * The request was invalid: Tink answered 400 or 422, or the input was rejected before sending,
 * in which case nothing reached Tink.
 *
 * @since 0.1.0
 * @category errors
 */
export class TinkValidationError extends TypeIdError(TypeId, "TinkValidationError")<ErrorContext> {
  override get message(): string {
    return describe("Tink request invalid", this)
  }
}

/**
 * The resource does not exist, or is not visible to the token (404).
 *
 * @since 0.1.0
 * @category errors
 */
export class TinkNotFoundError extends TypeIdError(TypeId, "TinkNotFoundError")<ErrorContext> {
  override get message(): string {
    return describe("Tink resource not found", this)
  }
}

/**
 * Any other non-2xx answer: 409 conflicts, 5xx server errors, unexpected statuses.
 *
 * @since 0.1.0
 * @category errors
 */
export class TinkApiError extends TypeIdError(TypeId, "TinkApiError")<ErrorContext> {
  override get message(): string {
    return describe("Tink API error", this)
  }
}

/**
 * The transport failed. `mayHaveReachedTink` is false only when the request certainly was not
 * sent (connection refused), which is what makes retrying a mutation safe.
 *
 * @since 0.1.0
 * @category errors
 */
export class TinkNetworkError extends TypeIdError(TypeId, "TinkNetworkError")<
  ErrorContext & { readonly mayHaveReachedTink: boolean }
> {
  override get message(): string {
    return describe(
      "Tink unreachable",
      this,
      this.mayHaveReachedTink ? "request may have been sent" : "request not sent"
    )
  }
}

/**
 * An attempt took longer than the configured request timeout; Tink may still have processed it.
 *
 * @since 0.1.0
 * @category errors
 */
export class TinkTimeoutError extends TypeIdError(TypeId, "TinkTimeoutError")<ErrorContext> {
  override get message(): string {
    return describe("Tink request timed out", this)
  }
}

/**
 * A 2xx answer whose body is not JSON or does not match the expected shape.
 *
 * @since 0.1.0
 * @category errors
 */
export class TinkDecodeError extends TypeIdError(TypeId, "TinkDecodeError")<ErrorContext> {
  override get message(): string {
    return describe("Tink response could not be decoded", this)
  }
}

/**
 * Every way a Tink operation can fail.
 *
 * @since 0.1.0
 * @category errors
 */
export type TinkError =
  | TinkAuthenticationError
  | TinkRateLimitError
  | TinkValidationError
  | TinkNotFoundError
  | TinkApiError
  | TinkNetworkError
  | TinkTimeoutError
  | TinkDecodeError

/**
 * Narrows an unknown failure to a TinkError, e.g. in a catch-all handler.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTinkError = (u: unknown): u is TinkError => Predicate.hasProperty(u, TypeId)

/**
 * The same error with context added: a hint and the step that failed. A step already present is
 * kept as the inner one (`the app token for createAuthorization, in deleteUser`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const annotate = <E extends TinkError>(
  error: E,
  context: { readonly hint?: string | undefined; readonly step?: string | undefined }
): E => {
  const step = context.step === undefined
    ? error.step
    : error.step === undefined
    ? context.step
    : `${error.step}, in ${context.step}`
  const hint = error.hint ?? context.hint
  const Class = error.constructor as new(args: ErrorContext) => E
  const { _tag: _, ...fields } = error as E & { readonly _tag: string }
  return new Class({ ...fields, hint, step })
}
