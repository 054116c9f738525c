import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as TinkError from "../TinkError.js"

/** @internal */
export interface RequestInfo {
  readonly method: string
  readonly path: string
  /** The path with ids replaced, for spans and metric labels. */
  readonly route: string
  /** The body may hold a token or secret (OAuth): errors must not quote it. */
  readonly sensitive: boolean
}

const firstString = (body: Record<string, unknown>, names: ReadonlyArray<string>): string | undefined => {
  for (const name of names) {
    const value = body[name]
    if (typeof value === "string" && value.length > 0) return value.slice(0, 500)
  }
  return undefined
}

const parseJsonObject = (text: string): Record<string, unknown> | undefined => {
  try {
    const parsed: unknown = JSON.parse(text)
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? parsed as Record<string, unknown>
      : undefined
  } catch {
    return undefined
  }
}

/** Seconds or an HTTP date, measured against the Clock so tests can control it. @internal */
export const parseRetryAfter = (header: string | undefined, nowMillis: number): Duration.Duration | undefined => {
  if (header === undefined) return undefined
  const trimmed = header.trim()
  if (/^\d+$/.test(trimmed)) return Duration.seconds(Number(trimmed))
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Duration.millis(Math.max(0, date - nowMillis))
}

/** Maps a non-2xx answer to the documented error case, with Tink's own fields. @internal */
export const statusError = (
  info: RequestInfo,
  response: HttpClientResponse.HttpClientResponse,
  bodyText: string,
  nowMillis: number,
  token: string | undefined
): TinkError.TinkError => {
  const body = info.sensitive ? undefined : parseJsonObject(bodyText)
  // Should Tink ever echo the caller's token back, it must not travel on in the error.
  const scrub = (text: string | undefined) =>
    text === undefined || token === undefined || token.length === 0 ? text : text.split(token).join("<redacted>")
  const context: TinkError.ErrorContext = {
    method: info.method,
    path: info.path,
    status: response.status,
    errorCode: scrub(body && firstString(body, ["errorCode", "code", "error"])),
    errorMessage: scrub(body && firstString(body, ["errorMessage", "error_description", "message"])),
    requestId: response.headers["x-tink-request-id"] ?? (body && firstString(body, ["requestId"]))
  }
  switch (response.status) {
    case 400:
    case 422:
      return new TinkError.TinkValidationError(context)
    case 401:
    case 403:
      return new TinkError.TinkAuthenticationError(context)
    case 404:
      return new TinkError.TinkNotFoundError(context)
    case 429:
      return new TinkError.TinkRateLimitError({
        ...context,
        retryAfter: parseRetryAfter(response.headers["retry-after"], nowMillis)
      })
    default:
      return new TinkError.TinkApiError(context)
  }
}

const causeCode = (cause: unknown): string | undefined => {
  for (let current = cause, depth = 0; typeof current === "object" && current !== null && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === "string") return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/**
 * A transport failure, reduced to its reason and system code: the HttpClientError itself holds
 * the request, headers included, so it must not travel in the error.
 *
 * @internal
 */
export const transportError = (info: RequestInfo, error: HttpClientError.HttpClientError): TinkError.TinkError => {
  const code = causeCode(error.cause)
  return new TinkError.TinkNetworkError({
    method: info.method,
    path: info.path,
    mayHaveReachedTink: code !== "ECONNREFUSED" && error.reason !== "InvalidUrl" && error.reason !== "Encode",
    cause: { reason: error.reason, code }
  })
}

/** Decodes a 2xx body; with no schema the body is ignored, so 204 gives void, never "". @internal */
export const decodeBody = <A, I>(
  info: RequestInfo,
  response: HttpClientResponse.HttpClientResponse,
  bodyText: string,
  schema: Schema.Schema<A, I> | undefined
): Effect.Effect<A, TinkError.TinkError> => {
  if (schema === undefined) return Effect.void as Effect.Effect<A>
  const requestId = response.headers["x-tink-request-id"]
  const fail = (detail: string) =>
    Effect.fail(
      new TinkError.TinkDecodeError({
        method: info.method,
        path: info.path,
        status: response.status,
        requestId,
        errorMessage: detail,
        cause: undefined
      })
    )
  let json: unknown
  try {
    json = JSON.parse(bodyText)
  } catch {
    return fail(bodyText.length === 0 ? "empty body" : "body is not JSON")
  }
  let decoded: Either.Either<A, ParseResult.ParseError>
  try {
    decoded = Schema.decodeUnknownEither(schema)(json, { onExcessProperty: "ignore" })
  } catch {
    return fail(shapeMismatch)
  }
  if (Either.isRight(decoded)) return Effect.succeed(decoded.right)
  return fail(info.sensitive ? shapeMismatch : describeIssues(decoded.left))
}

const shapeMismatch = "body does not match the expected shape"

/** Where the body went wrong, without its values. A hostile, deeply nested body can overflow the
 * formatter's stack: that is still a decode error, never a crash. */
const describeIssues = (error: ParseResult.ParseError): string => {
  try {
    return ParseResult.ArrayFormatter.formatErrorSync(error)
      .slice(0, 5)
      .map((issue) => `${issue.path.join(".") || "<root>"}: ${issue._tag}`)
      .join("; ")
  } catch {
    return shapeMismatch
  }
}
