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
 * Why a request was refused, so a handler can tell the cases apart without reading `status`:
 *
 * - `invalid-token`: the access token is missing, unknown or expired (401). Get a new one.
 * - `insufficient-scope`: the token is valid but lacks a scope the call needs (403);
 *   `requiredScope` names it when Tink said which.
 * - `app-credentials-rejected`: Tink's token endpoint refused the app's client id or secret
 *   (`TINK_CLIENT_ID`, `TINK_CLIENT_SECRET`), e.g. while getting the app token for `createUser`.
 * - `grant-refused`: a grant endpoint refused (401/403): the app has no access to that user, or
 *   may not grant that scope. A new app token does not help.
 * - `session-mismatch`: found by this library, nothing refused by Tink: the session's token belongs
 *   to another user than the session's `userId`, so the data is not shown (or changed).
 *
 * @since 0.2.0
 * @category models
 */
export type AuthenticationReason =
  | "invalid-token"
  | "insufficient-scope"
  | "app-credentials-rejected"
  | "grant-refused"
  | "session-mismatch"

/**
 * The request was refused: `reason` says why (see `AuthenticationReason`), `hint` what to do.
 *
 * @since 0.1.0
 * @category errors
 */
export class TinkAuthenticationError extends TypeIdError(TypeId, "TinkAuthenticationError")<
  ErrorContext & {
    readonly reason: AuthenticationReason
    /** The scope the token lacks, for `insufficient-scope`, when Tink named it. */
    readonly requiredScope?: string | undefined
  }
> {
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
 * What a `TinkNetworkError` came from, reduced to safe data: the transport's reason (`Transport`,
 * `InvalidUrl`, `Encode`, `Decode`), the system error code (`ECONNREFUSED`, `ENOTFOUND`, ...) and
 * call, and the host and port tried. A plain `Error`, so loggers and `Cause.pretty` render it as
 * one; it never holds the request, whose headers carry the token.
 *
 * @since 0.2.0
 * @category models
 */
export class TransportCause extends globalThis.Error {
  readonly reason: string
  readonly code: string | undefined
  readonly syscall: string | undefined
  readonly host: string | undefined
  readonly port: number | undefined
  constructor(fields: {
    readonly reason: string
    readonly code?: string | undefined
    readonly syscall?: string | undefined
    readonly host?: string | undefined
    readonly port?: number | undefined
  }) {
    const address = fields.host === undefined
      ? undefined
      : `${fields.host}${fields.port === undefined ? "" : `:${fields.port}`}`
    const words = [fields.syscall, fields.code, address].filter((word) => word !== undefined)
    super(words.length === 0 ? `${fields.reason} error` : `${fields.reason} error: ${words.join(" ")}`)
    this.name = "TransportCause"
    this.reason = fields.reason
    this.code = fields.code
    this.syscall = fields.syscall
    this.host = fields.host
    this.port = fields.port
    // Our own frames would only point at the mapping code, not at what failed.
    this.stack = `${this.name}: ${this.message}`
  }
}

/**
 * The transport failed. `host` and `port` say where it tried. `mayHaveReachedTink` is false only
 * when the request certainly was not sent (the host name did not resolve, the connection was
 * refused or never made), which is what makes retrying a mutation safe.
 *
 * @since 0.1.0
 * @category errors
 */
export class TinkNetworkError extends TypeIdError(TypeId, "TinkNetworkError")<
  ErrorContext & {
    readonly mayHaveReachedTink: boolean
    /** The host tried, from the base URL. */
    readonly host?: string | undefined
    /** The port tried (the scheme's default when the base URL names none). */
    readonly port?: number | undefined
  }
> {
  override get message(): string {
    const code = this.cause instanceof TransportCause && this.hint === undefined ? this.cause.code : undefined
    const sent = this.mayHaveReachedTink ? "request may have been sent" : "request not sent"
    return describe(
      this.host === undefined
        ? "Tink unreachable"
        : `Tink unreachable at ${this.host}${this.port === undefined ? "" : `:${this.port}`}`,
      this,
      code === undefined ? sent : `${code}, ${sent}`
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
  // An Error's `cause` is not enumerable: a spread would drop it.
  return new Class({ ...fields, cause: error.cause, hint, step })
}
