import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as ResponseCache from "../ResponseCache.js"
import * as TinkError from "../TinkError.js"

/** @internal */
export interface RequestInfo {
  readonly method: string
  readonly path: string
  /** The path with ids replaced, for spans and metric labels. */
  readonly route: string
  /** The body may hold a token or secret (OAuth): errors must not describe a 2xx body's shape. */
  readonly sensitive: boolean
  /** Every secret the request carried (token, client secret, code): errors must not quote them. */
  readonly secrets: ReadonlyArray<string>
}

/** Error text from a response is read this far, scrubbed, then cut to `maxText`. */
const maxRead = 8192
const maxText = 500
const window = 8
const mask = "[***]"

/** The forms a secret may be echoed in: as sent in a form body or URL, or inside JSON. */
const variants = (secret: string): ReadonlyArray<string> => {
  const forms = [secret, JSON.stringify(secret).slice(1, -1)]
  try {
    const encoded = encodeURIComponent(secret)
    forms.push(encoded, encoded.replace(/%20/g, "+"), new URLSearchParams([["", secret]]).toString().slice(1))
  } catch {
    // A lone surrogate cannot be percent-encoded, so it was never sent that way.
  }
  return forms
}

/**
 * Removes every run of 8 or more characters that also occurs in a secret, whatever the cut: a
 * response that echoes part of a token (or a token split by a length limit) keeps none of it.
 * Shorter secrets are removed where they occur whole. The mask is shorter than the window, so
 * repeating until nothing matches ends, and no match can survive across a mask.
 *
 * @internal
 */
export const scrubber = (secrets: ReadonlyArray<string>): (text: string) => string => {
  const windows = new Set<string>()
  const short: Array<string> = []
  for (const secret of secrets) {
    if (secret.length === 0) continue
    for (const form of variants(secret)) {
      if (form.length < window) short.push(form)
      else for (let i = 0; i + window <= form.length; i++) windows.add(form.slice(i, i + window))
    }
  }
  short.sort((a, b) => b.length - a.length)
  if (windows.size === 0 && short.length === 0) return (text) => text
  const once = (text: string): string => {
    const marked = new Uint8Array(text.length)
    let any = false
    for (let i = 0; i + window <= text.length; i++) {
      if (windows.has(text.slice(i, i + window))) {
        marked.fill(1, i, i + window)
        any = true
      }
    }
    for (const form of short) {
      for (let at = text.indexOf(form); at !== -1; at = text.indexOf(form, at + 1)) {
        marked.fill(1, at, at + form.length)
        any = true
      }
    }
    if (!any) return text
    let out = ""
    for (let i = 0; i < text.length;) {
      if (marked[i] === 0) {
        out += text[i]
        i++
        continue
      }
      while (i < text.length && marked[i] === 1) i++
      out += mask
    }
    return out
  }
  return (text) => {
    let current = text.length > maxRead ? text.slice(0, maxRead) : text
    for (let rounds = 0; rounds < 64; rounds++) {
      const next = once(current)
      if (next === current) break
      current = next
    }
    return current
  }
}

/** Scrubs first, then cuts: cutting first could leave the head of a token behind the cut. */
const safeText = (text: string | undefined, scrub: (text: string) => string): string | undefined => {
  if (text === undefined) return undefined
  const scrubbed = scrub(text)
  return scrubbed.length > maxText ? scrubbed.slice(0, maxText) : scrubbed
}

const firstString = (body: Record<string, unknown>, names: ReadonlyArray<string>): string | undefined => {
  for (const name of names) {
    const value = body[name]
    if (typeof value === "string" && value.length > 0) return value
    if (typeof value === "number" && Number.isFinite(value)) return String(value)
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

const tokenPath = "/api/v1/oauth/token"
const grantPaths: ReadonlySet<string> = new Set([
  "/api/v1/oauth/authorization-grant",
  "/api/v1/oauth/authorization-grant/delegate"
])

/** What a refusal means: the `reason` of the authentication error, and what to do about it. */
interface Refusal {
  readonly reason: TinkError.AuthenticationReason
  readonly hint: string
  readonly requiredScope?: string | undefined
}

/** One scope, or several joined by commas (OAuth's header separates them by spaces). */
const scopeList = /^[A-Za-z0-9._:-]+(,[A-Za-z0-9._:-]+)*$/

/**
 * The scope a 403 says the token lacks: OAuth's `WWW-Authenticate: Bearer error="insufficient_scope",
 * scope="..."` (RFC 6750), else a scope of the `area:action` form in Tink's message about a scope.
 */
const requiredScopeOf = (wwwAuthenticate: string | undefined, errorMessage: string | undefined) => {
  const fromHeader = wwwAuthenticate === undefined ? undefined : /\bscope="([^"]*)"/i.exec(wwwAuthenticate)?.[1]
  const listed = fromHeader?.trim().split(/\s+/).join(",")
  if (listed !== undefined && listed.length <= 256 && scopeList.test(listed)) return listed
  if (errorMessage === undefined || !/\bscope/i.test(errorMessage)) return undefined
  return /\b[a-z][a-z0-9-]*:[a-z0-9-]+(?::[a-z0-9-]+)*\b/i.exec(errorMessage)?.[0]
}

/**
 * Why Tink refused a request, in the caller's terms. Tink's token endpoint answers 401 (or
 * OAuth's `invalid_client`, possibly with 400) for a wrong client id or secret; grant endpoints
 * answer 401 for "client missing, no access to the user, or scope not allowed"
 * (authorization-grant/delegate); elsewhere 401 is a missing, unknown or expired token and 403 a
 * token without a scope the call needs (API reference, Introduction, "Authentication").
 */
const refusal = (
  path: string,
  status: number,
  errorCode: string | undefined,
  errorMessage: string | undefined,
  wwwAuthenticate: string | undefined
): Refusal | undefined => {
  const code = errorCode === undefined ? "" : ` (${errorCode})`
  const lower = errorCode?.toLowerCase()
  if (path === tokenPath) {
    return status === 401 || status === 403 || lower === "invalid_client" || lower === "unauthorized_client"
      ? {
        reason: "app-credentials-rejected",
        hint: `app credentials rejected by Tink${code}: check TINK_CLIENT_ID and TINK_CLIENT_SECRET`
      }
      : undefined
  }
  if (grantPaths.has(path)) {
    return status === 401 || status === 403
      ? {
        reason: "grant-refused",
        hint: `grant refused by Tink${code}: the app has no access to this user, or may not grant this scope`
      }
      : undefined
  }
  if (status === 401) {
    return {
      reason: "invalid-token",
      hint: `access token rejected by Tink${code}: it is invalid or expired, get a new one`
    }
  }
  if (status === 403) {
    const requiredScope = requiredScopeOf(wwwAuthenticate, errorMessage)
    const lacks = requiredScope === undefined ? "a scope this call needs" : `the scope ${requiredScope}`
    return {
      reason: "insufficient-scope",
      requiredScope,
      hint: `access token lacks ${lacks}${code}: include it in the scope given to createAuthorization`
    }
  }
  return undefined
}

/** What other OAuth and grant failures mean. */
const oauthHint = (path: string, status: number, errorCode: string | undefined): string | undefined => {
  const code = errorCode === undefined ? "" : ` (${errorCode})`
  const lower = errorCode?.toLowerCase()
  if (path === tokenPath) {
    if (lower === "invalid_grant") {
      return `authorization code rejected by Tink${code}: codes are single-use and short-lived, get a new one`
    }
    if (lower === "invalid_scope") {
      return `scopes refused by Tink${code}: the app must be allowed them in Tink Console`
    }
    return undefined
  }
  if (grantPaths.has(path) && status === 404) return `user not found by Tink${code}`
  return undefined
}

/**
 * Tink documents `X-Request-ID` on its responses (API reference, Introduction; see
 * contract/tink/errors.json); `X-Tink-Request-ID` is what earlier clients read, kept as a fallback.
 */
const requestIdOf = (response: HttpClientResponse.HttpClientResponse): string | undefined =>
  response.headers["x-request-id"] ?? response.headers["x-tink-request-id"]

/** Maps a non-2xx answer to the documented error case, with Tink's own fields. @internal */
export const statusError = (
  info: RequestInfo,
  response: HttpClientResponse.HttpClientResponse,
  bodyText: string,
  nowMillis: number
): TinkError.TinkError => {
  // OAuth and grant errors are parsed too: Tink's errorCode is what says why. Should Tink ever echo
  // a token, code or secret of the request back, no part of it travels on in the error.
  const body = parseJsonObject(bodyText.length > 65_536 ? "" : bodyText)
  const scrub = scrubber(info.secrets)
  let context: TinkError.ErrorContext = {
    method: info.method,
    path: info.path,
    status: response.status,
    errorCode: safeText(body && firstString(body, ["errorCode", "code", "error"]), scrub),
    errorMessage: safeText(body && firstString(body, ["errorMessage", "error_description", "message"]), scrub),
    requestId: safeText(requestIdOf(response) ?? (body && firstString(body, ["requestId"])), scrub)
  }
  const refused = refusal(
    info.path,
    response.status,
    context.errorCode,
    context.errorMessage,
    response.headers["www-authenticate"]
  )
  if (refused !== undefined) {
    return new TinkError.TinkAuthenticationError({
      ...context,
      hint: refused.hint,
      reason: refused.reason,
      requiredScope: refused.requiredScope === undefined ? undefined : safeText(refused.requiredScope, scrub)
    })
  }
  const hint = oauthHint(info.path, response.status, context.errorCode)
  if (hint !== undefined) context = { ...context, hint }
  switch (response.status) {
    case 400:
    case 422:
      return new TinkError.TinkValidationError(context)
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

/** The first system error (one with a string `code`) in a cause chain: its code and call. */
const systemError = (cause: unknown): { readonly code?: string | undefined; readonly syscall?: string | undefined } => {
  for (let current = cause, depth = 0; typeof current === "object" && current !== null && depth < 5; depth++) {
    const { code, syscall } = current as { code?: unknown; syscall?: unknown }
    if (typeof code === "string" && /^[A-Z0-9_]{1,64}$/.test(code)) {
      return { code, syscall: typeof syscall === "string" && /^\w{1,32}$/.test(syscall) ? syscall : undefined }
    }
    current = (current as { cause?: unknown }).cause
  }
  return {}
}

/** The host name did not resolve: nothing was sent. */
const dnsFailures: ReadonlySet<string> = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EAI_NONAME", "EAI_NODATA"])
/** The connection was never made: nothing was sent. */
const connectFailures: ReadonlySet<string> = new Set(["ECONNREFUSED", "UND_ERR_CONNECT_TIMEOUT"])
/** Failures of `connect` only; on an open socket they may come after the request was written. */
const connectOnly: ReadonlySet<string> = new Set(["EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ETIMEDOUT"])

/** Where the request went: host and port, never the rest of the URL. */
const addressOf = (url: string): { readonly host?: string | undefined; readonly port?: number | undefined } => {
  try {
    const parsed = new URL(url)
    const port = parsed.port !== ""
      ? Number(parsed.port)
      : parsed.protocol === "https:"
      ? 443
      : parsed.protocol === "http:"
      ? 80
      : undefined
    return { host: parsed.hostname, port }
  } catch {
    return {}
  }
}

/** What a transport failure means and what to check, for the failures that say it clearly. */
const transportHint = (code: string | undefined): string | undefined => {
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused (ECONNREFUSED): check TINK_BASE_URL and that the server is up"
    case "ENOTFOUND":
    case "EAI_NONAME":
    case "EAI_FAIL":
    case "EAI_NODATA":
      return `host name not found (${code}): check the host in TINK_BASE_URL`
    case "EAI_AGAIN":
      return "host name lookup failed for now (EAI_AGAIN): check this machine's DNS; retrying may help"
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `no route to the host (${code}): check the network, proxy or firewall`
    case "UND_ERR_CONNECT_TIMEOUT":
    case "ETIMEDOUT":
      return `connection not established in time (${code}): check the network and TINK_BASE_URL`
    default:
      return undefined
  }
}

/**
 * A transport failure, reduced to its reason, system code, and the host and port tried: the
 * HttpClientError itself holds the request, headers included, so it must not travel in the error.
 * A failed name lookup or connection means nothing was sent, which makes retrying a mutation safe.
 *
 * @internal
 */
export const transportError = (info: RequestInfo, error: HttpClientError.HttpClientError): TinkError.TinkError => {
  const { code, syscall } = systemError(error.cause)
  const { host, port } = addressOf(error.request.url)
  const connecting = syscall === "connect" || syscall === "getaddrinfo"
  const notSent = error._tag === "RequestError" && (
    error.reason === "InvalidUrl" ||
    error.reason === "Encode" ||
    (code !== undefined &&
      (dnsFailures.has(code) || connectFailures.has(code) || (connectOnly.has(code) && connecting)))
  )
  const hint = code !== undefined && (!connectOnly.has(code) || connecting) ? transportHint(code) : undefined
  return new TinkError.TinkNetworkError({
    method: info.method,
    path: info.path,
    host,
    port,
    mayHaveReachedTink: !notSent,
    hint,
    cause: new TinkError.TransportCause({ reason: error.reason, code, syscall, host, port })
  })
}

/**
 * Decodes a 2xx body; with no schema the body is ignored, so 204 gives void, never "". An
 * `Either`: an attempt decodes in the step that receives the answer. @internal
 */
export const decodeBody = <A, I>(
  info: RequestInfo,
  response: HttpClientResponse.HttpClientResponse,
  bodyText: string,
  schema: Schema.Schema<A, I> | undefined
): Either.Either<A, TinkError.TinkError> => {
  if (schema === undefined) return Either.right(undefined as A)
  // Only a failure names the request id, scrubbed: a success builds no scrubber.
  const fail = (detail: string) =>
    Either.left(
      new TinkError.TinkDecodeError({
        method: info.method,
        path: info.path,
        status: response.status,
        requestId: safeText(requestIdOf(response), scrubber(info.secrets)),
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
    decoded = ResponseCache.decoderOf(schema)(json)
  } catch {
    return fail(shapeMismatch)
  }
  if (Either.isRight(decoded)) return decoded as Either.Either<A, never>
  return fail(info.sensitive ? shapeMismatch : safeText(describeIssues(decoded.left), scrubber(info.secrets))!)
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
