import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import type * as Schema from "effect/Schema"
import * as CachePolicy from "../CachePolicy.js"
import type * as ResponseCache from "../ResponseCache.js"
import type * as TinkClient from "../TinkClient.js"
import type * as TinkConfig from "../TinkConfig.js"
import * as TinkError from "../TinkError.js"
import * as TinkMetrics from "../TinkMetrics.js"
import * as TinkUser from "../TinkUser.js"
import type * as ClientTokens from "./clientTokens.js"
import * as Response from "./response.js"

/** @internal */
export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE"

const userAgent = "tink-effect/0.1.0"

/** Paths are built by this library from validated ids; anything else is a bug or an attack. */
const safePath = /^(\/[A-Za-z0-9._~%-]+)+$/

/** Every segment, decoded, must stay one segment and not climb: `%2e%2e` and `%2F` included. */
const isSafePath = (path: string): boolean => {
  if (!safePath.test(path)) return false
  for (const segment of path.slice(1).split("/")) {
    let decoded: string
    try {
      decoded = decodeURIComponent(segment)
    } catch {
      return false
    }
    if (decoded === "." || decoded === ".." || decoded.includes("/") || decoded.includes("\\")) return false
  }
  return true
}

/** Without an explicit route, keep only segments that cannot be ids: spans must not show them. */
const routeOf = (path: string): string =>
  path.split("/").map((segment) => /^(|v\d+|[a-z][a-z-]*[a-z])$/.test(segment) ? segment : "{id}").join("/")

const isRetryable = (error: TinkError.TinkError, idempotent: boolean): boolean => {
  switch (error._tag) {
    case "TinkRateLimitError":
      return true
    case "TinkNetworkError":
      return idempotent || !error.mayHaveReachedTink
    case "TinkTimeoutError":
      return idempotent
    case "TinkApiError":
      return idempotent && error.status !== undefined && (error.status === 408 || error.status >= 500)
    default:
      return false
  }
}

/** C4: these failures prove Tink did not change anything, so the cache may stay. */
const isDefiniteRejection = (error: TinkError.TinkError): boolean => {
  switch (error._tag) {
    case "TinkValidationError":
    case "TinkAuthenticationError":
    case "TinkNotFoundError":
    case "TinkRateLimitError":
      return true
    case "TinkApiError":
      return error.status !== undefined && error.status >= 400 && error.status < 500 && error.status !== 408
    case "TinkNetworkError":
      return !error.mayHaveReachedTink
    default:
      return false
  }
}

/** @internal */
export const make = (http: HttpClient.HttpClient, config: TinkConfig.Resolved, cache: ResponseCache.Service) => {
  const backoff = (retry: number): Effect.Effect<Duration.Duration> =>
    Effect.map(Random.nextRange(0.8, 1.2), (jitter) =>
      Duration.min(
        Duration.millis(Duration.toMillis(config.retryBaseDelay) * 2 ** retry * jitter),
        config.maxRetryDelay
      ))

  /** The wait before the next attempt, or none when Tink asks for longer than we may wait. */
  const retryDelay = (error: TinkError.TinkError, retry: number): Effect.Effect<Option.Option<Duration.Duration>> =>
    Effect.map(backoff(retry), (delay) => {
      if (error._tag !== "TinkRateLimitError" || error.retryAfter === undefined) return Option.some(delay)
      return Duration.greaterThan(error.retryAfter, config.maxRetryDelay)
        ? Option.none()
        : Option.some(Duration.max(delay, error.retryAfter))
    })

  const withRetries = <A>(
    once: Effect.Effect<A, TinkError.TinkError>,
    idempotent: boolean
  ): Effect.Effect<A, TinkError.TinkError> => {
    const attempt = (retry: number): Effect.Effect<A, TinkError.TinkError> =>
      Effect.catchAll(once, (error) =>
        retry >= config.maxRetries || !isRetryable(error, idempotent)
          ? Effect.fail(error)
          : Effect.flatMap(retryDelay(error, retry), (delay) => {
            if (Option.isNone(delay)) return Effect.fail(error)
            TinkMetrics.httpRetries.unsafeUpdate(1, [])
            return Effect.annotateCurrentSpan("tink.retries", retry + 1).pipe(
              Effect.zipRight(Effect.sleep(delay.value)),
              Effect.zipRight(attempt(retry + 1))
            )
          }))
    return attempt(0)
  }

  const spanNames = new Map<string, string>()
  /** Span names are built once per operation, not on every cache hit. */
  const spanName = (operation: string): string => {
    let name = spanNames.get(operation)
    if (name === undefined) {
      name = `tink.users.${operation}`
      spanNames.set(operation, name)
    }
    return name
  }

  /** The operation span, for requests that always go to Tink (mutations, app-level calls). */
  const traced = <A>(
    options: TinkClient.RequestOptions,
    session: TinkUser.Session | undefined,
    effect: Effect.Effect<A, TinkError.TinkError>
  ): Effect.Effect<A, TinkError.TinkError> =>
    options.operation === undefined ? effect : Effect.withSpan(effect, spanName(options.operation), {
      captureStackTrace: false,
      attributes: session === undefined ? {} : { "tink.scope.hash": session.scopeHash }
    })

  const buildRequest = (
    method: Method,
    path: string,
    options: TinkClient.RequestOptions,
    token: Redacted.Redacted<string> | undefined
  ): Effect.Effect<HttpClientRequest.HttpClientRequest, TinkError.TinkError> => {
    let request = HttpClientRequest.make(method)(config.baseUrl + path).pipe(
      HttpClientRequest.setHeaders({ accept: "application/json", "user-agent": userAgent }),
      HttpClientRequest.appendUrlParams(options.query ?? [])
    )
    if (token !== undefined) request = HttpClientRequest.bearerToken(request, token)
    const body = options.body
    if (body === undefined) return Effect.succeed(request)
    if (body._tag === "Form") {
      const fields: Array<[string, string]> = []
      for (const [name, value] of Object.entries(body.value)) {
        if (value !== undefined) fields.push([name, Redacted.isRedacted(value) ? Redacted.value(value) : value])
      }
      return Effect.succeed(HttpClientRequest.bodyUrlParams(request, fields))
    }
    return Effect.try({
      try: () => HttpClientRequest.bodyUnsafeJson(request, body.value),
      catch: () => new TinkError.TinkValidationError({ method, path, errorMessage: "body cannot be encoded as JSON" })
    })
  }

  const attempt = <A, I>(
    info: Response.RequestInfo,
    request: HttpClientRequest.HttpClientRequest,
    schema: Schema.Schema<A, I> | undefined
  ): Effect.Effect<A, TinkError.TinkError> =>
    Effect.flatMap(Clock.currentTimeMillis, (startedAt) => {
      let status = "error"
      return http.execute(request).pipe(
        Effect.flatMap((response) => {
          status = String(response.status)
          return Effect.flatMap(response.text, (text) =>
            response.status >= 200 && response.status < 300
              ? Response.decodeBody(info, response, text, schema)
              : Effect.flatMap(
                Clock.currentTimeMillis,
                (now) => Effect.fail(Response.statusError(info, response, text, now))
              ))
        }),
        Effect.catchIf(
          (error): error is Exclude<typeof error, TinkError.TinkError> => !TinkError.isTinkError(error),
          (error) => Effect.fail(Response.transportError(info, error))
        ),
        Effect.timeoutFail({
          duration: config.requestTimeout,
          onTimeout: () => new TinkError.TinkTimeoutError({ method: info.method, path: info.path })
        }),
        Effect.onExit(() =>
          Effect.flatMap(Clock.currentTimeMillis, (endedAt) => {
            const labels = [
              MetricLabel.make("method", info.method),
              MetricLabel.make("route", info.route),
              MetricLabel.make("status", status)
            ]
            TinkMetrics.httpDuration.unsafeUpdate(endedAt - startedAt, labels)
            return Effect.annotateCurrentSpan("http.response.status_code", status)
          })
        ),
        Effect.withSpan("tink.http", {
          kind: "client",
          captureStackTrace: false,
          attributes: { "http.request.method": info.method, "tink.route": info.route }
        })
      )
    })

  /** Everything secret a request carries, so that errors can be scrubbed of it. */
  const secretsOf = (options: TinkClient.RequestOptions, token: Redacted.Redacted<string> | undefined) => {
    const secrets = [Redacted.value(config.clientSecret)]
    if (token !== undefined) secrets.push(Redacted.value(token))
    const body = options.body
    if (body?._tag === "Form") {
      for (const value of Object.values(body.value)) if (Redacted.isRedacted(value)) secrets.push(Redacted.value(value))
    }
    return secrets
  }

  /**
   * One request with its token and retries. A 401 to an app token is taken as an expired token:
   * renewed and sent once more, except where Tink documents 401 as "no access to that user or
   * scope" (grant endpoints), which a new token does not fix; there the token is only dropped.
   */
  const send = <A, I>(
    method: Method,
    path: string,
    options: TinkClient.RequestOptions & { readonly schema?: Schema.Schema<A, I> | undefined },
    tokens: ClientTokens.ClientTokens | undefined
  ): Effect.Effect<A, TinkError.TinkError> => {
    if (!isSafePath(path)) {
      return Effect.fail(new TinkError.TinkValidationError({ method, path: "<rejected>", errorMessage: "unsafe path" }))
    }
    const route = options.route ?? routeOf(path)
    const idempotent = method === "GET" || options.idempotent === true
    const run = (token: Redacted.Redacted<string> | undefined) =>
      Effect.flatMap(
        buildRequest(method, path, options, token),
        (request) =>
          withRetries(
            attempt(
              { method, path, route, sensitive: options.sensitive === true, secrets: secretsOf(options, token) },
              request,
              options.schema
            ),
            idempotent
          )
      )
    const auth = options.auth
    if (auth._tag === "None") return run(undefined)
    if (auth._tag === "User") return run(auth.session.accessToken)
    if (tokens === undefined) return Effect.die("app auth needs the token manager")
    const appToken = Effect.mapError(tokens.get(auth.scopes), (error) =>
      TinkError.annotate(error, {
        step: `getting the app token (${auth.scopes.join(",")})` +
          (options.operation === undefined ? "" : ` for ${options.operation}`)
      }))
    return Effect.flatMap(appToken, (token) =>
      Effect.catchIf(
        run(token),
        (error) => error._tag === "TinkAuthenticationError" && error.status === 401,
        (error) =>
          Effect.zipRight(
            tokens.reject(auth.scopes, token),
            options.renewOn401 === false ? Effect.fail(error) : Effect.flatMap(appToken, run)
          )
      ))
  }

  /**
   * A read as the cache sees it. The TTL and the request are prototype getters: a hit never
   * builds the request nor looks the TTL up, and allocates this one object only.
   */
  class CachedRead<A, I> implements ResponseCache.Lookup<A, I, TinkError.TinkError> {
    readonly scope: string
    readonly partition: string
    readonly key: string
    readonly schema: Schema.Schema<A, I>
    readonly spanName: string | undefined
    readonly scopeHash: string
    /** Sessions without a user id depend on a scope every mutation invalidates (see TinkUser). */
    readonly guard: string | undefined
    constructor(
      readonly path: string,
      readonly options: TinkClient.ReadOptions<A, I>,
      session: TinkUser.Session,
      readonly tokens: ClientTokens.ClientTokens
    ) {
      this.scope = session.scope
      this.partition = session.tokenHash
      this.key = CachePolicy.requestKey("GET", path, options.query)
      this.schema = options.schema
      this.spanName = options.operation === undefined ? undefined : spanName(options.operation)
      this.scopeHash = session.scopeHash
      this.guard = session.userId === undefined ? TinkUser.unnamedSessionsScope : undefined
    }
    get ttl() {
      return CachePolicy.ttlFor(this.path, config.cacheTtl)
    }
    get fetch() {
      return send("GET", this.path, this.options, this.tokens)
    }
  }

  const read = <A, I>(
    path: string,
    options: TinkClient.ReadOptions<A, I>,
    tokens: ClientTokens.ClientTokens
  ): Effect.Effect<A, TinkError.TinkError> => {
    // C8: only a user's data has a scope; app-level answers are never cached.
    if (options.auth._tag !== "User") return traced(options, undefined, send("GET", path, options, tokens))
    return cache.lookup(new CachedRead(path, options, options.auth.session, tokens))
  }

  const mutate = <A, I>(
    method: Method,
    path: string,
    options: TinkClient.WriteOptions<A, I>,
    tokens: ClientTokens.ClientTokens
  ): Effect.Effect<A, TinkError.TinkError> => {
    const effect = send(method, path, options, tokens)
    const session = options.auth._tag === "User" ? options.auth.session : undefined
    const scopes = new Set(options.invalidates)
    if (session !== undefined) scopes.add(session.scope)
    // A session without a user id may hold the token of any user a mutation changes.
    if (scopes.size > 0) scopes.add(TinkUser.unnamedSessionsScope)
    if (scopes.size === 0) return traced(options, session, effect)
    const invalidate = Effect.zipRight(
      Effect.forEach(scopes, (scope) => cache.invalidate(scope), { discard: true }),
      Effect.annotateCurrentSpan("tink.cache.outcome", "invalidated")
    )
    // C4: invalidate before the caller sees the result, unless Tink certainly changed nothing.
    return traced(
      options,
      session,
      Effect.onExit(effect, (exit) => {
        if (Exit.isSuccess(exit)) return invalidate
        const failure = Cause.failureOption(exit.cause)
        return Option.isSome(failure) && isDefiniteRejection(failure.value) ? Effect.void : invalidate
      })
    )
  }

  return { send, read, mutate }
}
