import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Schema from "effect/Schema"
import type * as Tracer from "effect/Tracer"
import { AccessToken } from "../AccessToken.js"
import * as CachePolicy from "../CachePolicy.js"
import * as ResponseCache from "../ResponseCache.js"
import type * as TinkClient from "../TinkClient.js"
import * as TinkError from "../TinkError.js"
import * as TinkUser from "../TinkUser.js"
import * as ClientTokens from "./clientTokens.js"
import * as InFiber from "./inFiber.js"
import * as Options from "./options.js"
import * as Response from "./response.js"
import * as Retry from "./retry.js"
import type * as SingleFlight from "./singleFlight.js"
import * as Timeout from "./timeout.js"
import * as Tracing from "./tracing.js"

/** @internal */
export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE"

/**
 * What a read's path and options give for the cache: its request key and the kind of data read
 * (`credentials`, for the counters' labels; never an id).
 *
 * @internal
 */
export const prepare = <A, I>(
  path: string,
  options: TinkClient.UserReadOptions<A, I>
): InFiber.PreparedRead<A, I> => ({
  path,
  options,
  key: CachePolicy.requestKey("GET", path, options.query),
  resource: Tracing.resourceOf(options.route ?? path)
})

const userAgent = "tink-effect/0.2.0"

/** Paths are built by this library from validated ids; anything else is a bug or an attack. */
const safePath = /^(\/[A-Za-z0-9._~%-]+)+$/

/**
 * Paths checked and found safe, with their route (see `routeOf`): reads mostly repeat a few
 * constant paths, which then cost a map lookup instead of a regex, a split and a decode per
 * segment. Only safe paths are kept; the cap is a backstop against paths with ids churning it.
 */
const safeRoutes = new Map<string, string>()

const checkedRoute = (path: string): string | undefined => {
  let route = safeRoutes.get(path)
  if (route === undefined) {
    if (!isSafePath(path)) return undefined
    if (safeRoutes.size >= 512) safeRoutes.clear()
    route = routeOf(path)
    safeRoutes.set(path, route)
  }
  return route
}

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

/** These failures prove Tink did not change anything, so the cache may stay. */
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

/** Where Tink issues tokens, app tokens included. */
const tokenPath = "/api/v1/oauth/token"

/**
 * The pipeline: one request is path check, auth, encoding, attempts with retries, decoding; reads
 * with a user session go through the cache, mutations invalidate it. Its app tokens come from a
 * token manager built here over the same pipeline with client-secret auth, which needs no token.
 *
 * @internal
 */
export const make = (
  http: HttpClient.HttpClient,
  config: Options.Resolved,
  cache: ResponseCache.Service,
  flights: SingleFlight.SingleFlight
) => {
  const retryReads = Retry.schedule(config, true)
  const retryWrites = Retry.schedule(config, false)
  /** The client's policy, or one with another retry budget set by `TinkClient.withRequestOptions`. */
  const retryPolicy = (idempotent: boolean, maxRetries: number | undefined) =>
    maxRetries === undefined || maxRetries === config.maxRetries
      ? (idempotent ? retryReads : retryWrites)
      : Retry.schedule({ ...config, maxRetries }, idempotent)
  const transportLocals = Tracing.transportLocals(config.tracePropagation)
  const clientFields = {
    client_id: config.clientId,
    client_secret: config.clientSecret
  } as const

  /**
   * Requests without their token, by method and path, built once: a request then costs one copy
   * with its `authorization` header. Reads repeat a few paths without ids (held as constants, so
   * a lookup compares them by identity); the cap is a backstop.
   */
  const templates = new Map<Method, Map<string, HttpClientRequest.HttpClientRequest>>()
  const templateOf = (method: Method, path: string): HttpClientRequest.HttpClientRequest => {
    let byPath = templates.get(method)
    if (byPath === undefined) {
      byPath = new Map()
      templates.set(method, byPath)
    }
    let template = byPath.get(path)
    if (template === undefined) {
      template = HttpClientRequest.make(method)(config.baseUrl + path).pipe(
        HttpClientRequest.setHeaders({ accept: "application/json", "user-agent": userAgent })
      )
      // A path with ids in it (its route differs) is rarely asked again: not kept.
      if (checkedRoute(path) === path) {
        if (byPath.size >= 512) byPath.clear()
        byPath.set(path, template)
      }
    }
    return template
  }

  /**
   * The request, or the reason it cannot be sent. Synchronous: every body but JSON is built
   * without failing, and a JSON body that cannot be encoded is a validation error.
   */
  const buildRequest = (
    method: Method,
    path: string,
    options: TinkClient.RequestOptions,
    token: Redacted.Redacted<string> | undefined
  ): HttpClientRequest.HttpClientRequest | TinkError.TinkValidationError => {
    let request = templateOf(method, path)
    if (token !== undefined) {
      request = HttpClientRequest.setHeader(request, "authorization", `Bearer ${Redacted.value(token)}`)
    }
    if (options.query !== undefined && options.query.length > 0) {
      request = HttpClientRequest.appendUrlParams(request, options.query)
    }
    let body = options.body
    if (options.auth._tag === "ClientSecret") {
      // The app's credentials go in the form body as `client_id` and `client_secret` (Tink's API
      // reference, General v1, "Get access token": contract/tink/oauth-token.json), added here so
      // that no code outside the pipeline handles the secret.
      if (body !== undefined && body._tag !== "Form") {
        return new TinkError.TinkValidationError({ method, path, errorMessage: "client secret auth needs a form body" })
      }
      body = { _tag: "Form", value: { ...body?.value, ...clientFields } }
    }
    if (body === undefined) return request
    if (body._tag === "Form") {
      const fields: Array<[string, string]> = []
      for (const [name, value] of Object.entries(body.value)) {
        if (value !== undefined) fields.push([name, Redacted.isRedacted(value) ? Redacted.value(value) : value])
      }
      return HttpClientRequest.bodyUrlParams(request, fields)
    }
    try {
      return HttpClientRequest.bodyUnsafeJson(request, body.value)
    } catch {
      return new TinkError.TinkValidationError({ method, path, errorMessage: "body cannot be encoded as JSON" })
    }
  }

  /** The transport's own deadline-keeping `execute`, where it has one (`NodeTinkHttpClient`). */
  const executeWithin = Timeout.executeWithinOf(http)

  const timeoutOf = (info: Response.RequestInfo) => () =>
    new TinkError.TinkTimeoutError({ method: info.method, path: info.path })

  /** What an answer read whole means: the decoded body, or the error its status documents. */
  const outcomeOf = <A, I>(
    info: Response.RequestInfo,
    response: HttpClientResponse.HttpClientResponse,
    text: string,
    schema: Schema.Schema<A, I> | undefined,
    clock: Clock.Clock
  ): Either.Either<A, TinkError.TinkError> =>
    response.status >= 200 && response.status < 300
      ? Response.decodeBody(info, response, text, schema)
      : Either.left(Response.statusError(info, response, text, clock.unsafeCurrentTimeMillis()))

  const attempt = <A, I>(
    info: Response.RequestInfo,
    request: HttpClientRequest.HttpClientRequest,
    schema: Schema.Schema<A, I> | undefined,
    timeout: Duration.Duration,
    sentBefore: number
  ): Effect.Effect<A, TinkError.TinkError> => {
    const onTimeout = timeoutOf(info)
    const answered = (
      sent: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError | TinkError.TinkError>,
      observe: (response: HttpClientResponse.HttpClientResponse) => void
    ): Effect.Effect<A, TinkError.TinkError> =>
      sent.pipe(
        Effect.flatMap((response) => {
          observe(response)
          return Effect.flatMap(response.text, (text) =>
            Effect.clockWith((clock) => outcomeOf(info, response, text, schema, clock)))
        }),
        Effect.catchIf(
          (error): error is Exclude<typeof error, TinkError.TinkError> =>
            !TinkError.isTinkError(error),
          (error) => Effect.fail(Response.transportError(info, error))
        )
      )
    const general = (observe: (response: HttpClientResponse.HttpClientResponse) => void) =>
      Timeout.timeoutFail(
        answered(
          config.tracePropagation ? propagated(request, (request) => http.execute(request)) : http.execute(request),
          observe
        ),
        timeout,
        onTimeout,
        transportLocals
      )
    return Tracing.attempt(
      info,
      config.baseUrl,
      executeWithin === undefined ? general : (observe) =>
        Effect.withFiberRuntime((fiber) => {
          // The transport keeps the deadline itself: no fiber to interrupt, no timer beside it.
          // What follows its answer (already read whole) is synchronous decoding.
          const millis = Timeout.timerMillis(fiber, timeout)
          if (millis === undefined) return general(observe)
          const execute = (request: HttpClientRequest.HttpClientRequest) => executeWithin(request, millis, onTimeout)
          return answered(config.tracePropagation ? propagated(request, execute) : execute(request), observe)
        }),
      sentBefore
    )
  }

  /**
   * The request with the attempt's span in W3C trace headers. The platform client's own
   * propagation is off with its span (we open `tink.http` instead), so the headers are set here.
   */
  const propagated = <E>(
    request: HttpClientRequest.HttpClientRequest,
    execute: (
      request: HttpClientRequest.HttpClientRequest
    ) => Effect.Effect<HttpClientResponse.HttpClientResponse, E>
  ) =>
    Effect.flatMap(
      Effect.option(Effect.currentSpan),
      (span) =>
        execute(
          Option.isSome(span) ? HttpClientRequest.setHeaders(request, HttpTraceContext.toHeaders(span.value)) : request
        )
    )

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

  /** What errors and telemetry say of a request; its secrets are listed only for an error to scrub. */
  class RequestInfo implements Response.RequestInfo {
    readonly route: string
    /** What comes back to a request authenticated with the client secret is a token. */
    readonly sensitive: boolean
    private listed: ReadonlyArray<string> | undefined = undefined
    constructor(
      readonly method: Method,
      readonly path: string,
      private readonly options: TinkClient.RequestOptions,
      private readonly token: Redacted.Redacted<string> | undefined
    ) {
      this.route = options.route ?? checkedRoute(path) ?? routeOf(path)
      this.sensitive = options.sensitive === true || options.auth._tag === "ClientSecret"
    }
    get secrets(): ReadonlyArray<string> {
      return this.listed ??= secretsOf(this.options, this.token)
    }
  }

  type Sendable<A, I> = TinkClient.RequestOptions & { readonly schema?: Schema.Schema<A, I> | undefined }

  /** One request with the given bearer token (or none), and its retries. The path is checked. */
  const exchange = <A, I>(
    method: Method,
    path: string,
    options: Sendable<A, I>,
    token: Redacted.Redacted<string> | undefined
  ): Effect.Effect<A, TinkError.TinkError> => {
    const info = new RequestInfo(method, path, options, token)
    const idempotent = method === "GET" || options.idempotent === true
    const request = buildRequest(method, path, options, token)
    if (request instanceof TinkError.TinkValidationError) return Effect.fail(request)
    return Effect.withFiberRuntime((fiber) => {
      const overrides = fiber.getFiberRef(Options.overrides)
      const timeout = overrides.requestTimeout ?? config.requestTimeout
      // The first attempt runs on its own: the schedule's machinery (tens of microseconds)
      // starts only after a failure, which it then takes as its first input, as
      // `Effect.retry` would have.
      const retry = (first: TinkError.TinkError): Effect.Effect<A, TinkError.TinkError> => {
        let replayed = false
        const again: Effect.Effect<A, TinkError.TinkError> = Effect.suspend(() => {
          if (replayed) return general()
          replayed = true
          return Effect.fail(first)
        })
        return Effect.retry(again, retryPolicy(idempotent, overrides.maxRetries))
      }
      const oneStep = firstAttemptIn(fiber, info, request, options.schema, timeout, retry)
      // Retries are general attempts, built on the first failure, counting the first attempt.
      let attempts: Effect.Effect<A, TinkError.TinkError> | undefined
      const general = () => attempts ??= attempt(info, request, options.schema, timeout, oneStep === undefined ? 0 : 1)
      return oneStep ?? Effect.catchAll(general(), retry)
    })
  }

  /**
   * The first attempt as one handler on the transport's own effect, where that is all it needs:
   * the transport keeps the deadline and reads answers whole (`NodeTinkHttpClient`), and the
   * clock is the live one. The answer is then decoded, a failure mapped and handed to `retry`,
   * and the duration (and span, when spans are recorded) ended, in the step that gets the
   * answer; an interruption is reported by the transport, which aborts the request. Any other
   * attempt, and every retry, goes the general way (`attempt`), to the same results, metrics and
   * spans. One difference: the attempt's span is not the current span here, so what decoding
   * itself reports (credentials left out of a list) goes to the operation's span, where a retry's
   * goes to its attempt's.
   */
  const firstAttemptIn = <A, I>(
    fiber: InFiber.RunningFiber,
    info: Response.RequestInfo,
    request: HttpClientRequest.HttpClientRequest,
    schema: Schema.Schema<A, I> | undefined,
    timeout: Duration.Duration,
    retry: (error: TinkError.TinkError) => Effect.Effect<A, TinkError.TinkError>
  ): Effect.Effect<A, TinkError.TinkError> | undefined => {
    if (executeWithin === undefined) return undefined
    const millis = Timeout.timerMillis(fiber, timeout)
    if (millis === undefined) return undefined
    const within = executeWithin
    if (!Tracing.isTracing(fiber)) return handled(within, fiber, info, request, schema, millis, retry, undefined)
    return Effect.flatMap(
      Tracing.attemptSpan(info, config.baseUrl),
      (span) => handled(within, fiber, info, request, schema, millis, retry, span)
    )
  }

  const handled = <A, I>(
    within: Timeout.ExecuteWithin,
    fiber: InFiber.RunningFiber,
    info: Response.RequestInfo,
    request: HttpClientRequest.HttpClientRequest,
    schema: Schema.Schema<A, I> | undefined,
    millis: number,
    retry: (error: TinkError.TinkError) => Effect.Effect<A, TinkError.TinkError>,
    span: Tracer.Span | undefined
  ): Effect.Effect<A, TinkError.TinkError> => {
    const record = Tracing.attemptEnd(info, config.baseUrl, fiber, span)
    // An interruption that lands once the answer is in, before the handler below runs, skips both
    // the handler and the transport's canceler: the fiber's end reports the attempt then.
    const abandoned = () => record(Exit.interrupt(fiber.id()), undefined)
    fiber.addObserver(abandoned)
    const end = (exit: Exit.Exit<unknown, unknown>, response: HttpClientResponse.HttpClientResponse | undefined) => {
      fiber.removeObserver(abandoned)
      record(exit, response)
    }
    const answer = (
      response: HttpClientResponse.HttpClientResponse,
      text: string
    ): Effect.Effect<A, TinkError.TinkError> => {
      const outcome = outcomeOf(info, response, text, schema, Context.get(fiber.currentDefaultServices, Clock.Clock))
      if (Either.isLeft(outcome)) {
        end(Exit.fail(outcome.left), response)
        return retry(outcome.left)
      }
      end(Exit.succeed(outcome.right), response)
      return Effect.succeed(outcome.right)
    }
    const failed = (error: TinkError.TinkError, response: HttpClientResponse.HttpClientResponse | undefined) => {
      end(Exit.fail(error), response)
      return retry(error)
    }
    // The trace headers of the attempt's span, or of the caller's when nobody records spans.
    const parent = span ?? fiber.currentSpan
    const sent = config.tracePropagation && parent?._tag === "Span"
      ? HttpClientRequest.setHeaders(request, HttpTraceContext.toHeaders(parent))
      : request
    const onInterrupt = () => end(Exit.interrupt(fiber.id()), undefined)
    return Effect.matchCauseEffect(within(sent, millis, timeoutOf(info), onInterrupt), {
      onSuccess: (response) => {
        const text = Timeout.bodyTextOf(response)
        if (text !== undefined) return answer(response, text)
        // A transport whose answers keep their text elsewhere: read it, then the same.
        return Effect.matchEffect(response.text, {
          onSuccess: (text) => answer(response, text),
          onFailure: (error) => failed(Response.transportError(info, error), response)
        })
      },
      onFailure: (cause) => {
        const failure = Cause.failureOrCause(cause)
        if (Either.isRight(failure)) {
          end(Exit.failCause(failure.right), undefined)
          return Effect.failCause(failure.right)
        }
        const error = failure.left
        return failed(TinkError.isTinkError(error) ? error : Response.transportError(info, error), undefined)
      }
    })
  }

  // App tokens are fetched through the same pipeline with client-secret auth, which needs none.
  const tokens = ClientTokens.make(flights, (scopes) =>
    Effect.map(
      exchange("POST", tokenPath, {
        auth: { _tag: "ClientSecret" },
        schema: AccessToken,
        sensitive: true,
        idempotent: true,
        body: { _tag: "Form", value: { grant_type: "client_credentials", scope: scopes } }
      }, undefined),
      (answer) => ({ token: answer.accessToken, expiresInSeconds: answer.expiresIn })
    ))

  /**
   * One request with its auth. A 401 to an app token is taken as an expired token: renewed and
   * sent once more, except where Tink documents 401 as "no access to that user or scope" (grant
   * endpoints), which a new token does not fix; there the token is only dropped.
   */
  const send = <A, I>(method: Method, path: string, options: Sendable<A, I>): Effect.Effect<A, TinkError.TinkError> => {
    if (checkedRoute(path) === undefined) {
      return Effect.fail(new TinkError.TinkValidationError({ method, path: "<rejected>", errorMessage: "unsafe path" }))
    }
    const auth = options.auth
    switch (auth._tag) {
      case "None":
        return exchange(method, path, options, undefined)
      case "ClientSecret":
        // The app authenticates with its secret here: a rejection names the step it failed.
        return options.operation === undefined ? exchange(method, path, options, undefined) : Effect.mapError(
          exchange(method, path, options, undefined),
          (error) => TinkError.annotate(error, { step: `authenticating the app for ${options.operation}` })
        )
      case "User":
        return exchange(method, path, options, auth.session.accessToken)
      case "App": {
        const appToken = Effect.mapError(tokens.get(auth.scopes), (error) =>
          TinkError.annotate(error, {
            step: `getting the app token (${auth.scopes.join(",")})` +
              (options.operation === undefined ? "" : ` for ${options.operation}`)
          }))
        const run = (token: Redacted.Redacted<string>) => exchange(method, path, options, token)
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
    }
  }

  /**
   * A read as the cache sees it. The TTL and the fetch are prototype getters: a hit never builds
   * the request, its span nor looks the TTL up, and allocates this one object only.
   */
  class CachedRead<A, I> implements ResponseCache.Lookup<A, I, TinkError.TinkError> {
    // Declared, not defined: the constructor's assignments are the only stores (no class-field
    // definitions to run first on every read).
    declare readonly path: string
    declare readonly options: TinkClient.UserReadOptions<A, I>
    declare readonly session: TinkUser.Session
    declare readonly scope: string
    declare readonly partition: string
    declare readonly key: string
    /** For the cache counters' labels: the kind of data (`credentials`), never an id. */
    declare readonly resource: string
    declare readonly schema: Schema.Schema<A, I>
    /** Sessions without a user id depend on a scope every mutation invalidates (see TinkUser). */
    declare readonly guard: string | undefined
    constructor(
      path: string,
      options: TinkClient.UserReadOptions<A, I>,
      session: TinkUser.Session,
      key: string,
      resource: string
    ) {
      this.path = path
      this.options = options
      this.session = session
      this.scope = session.scope
      this.partition = session.partition ?? session.tokenHash
      this.key = key
      this.resource = resource
      this.schema = options.schema
      this.guard = session.userId === undefined ? TinkUser.unnamedSessionsScope : undefined
    }
    /** A prototype method: a hit allocates nothing for it. */
    storable(value: A): boolean {
      return this.options.storeIf === undefined || this.options.storeIf(value, this.session)
    }
    get ttl() {
      return CachePolicy.ttlFor(this.path, config.cacheTtl)
    }
    /**
     * The cache runs this only for a read that goes to Tink without starting a flight: a read
     * with caching off, or one the store could not give a generation.
     */
    get fetch(): Effect.Effect<A, TinkError.TinkError> {
      return this.fetchWith(Tracing.operationIn)
    }
    /** The fetch of a miss that starts a flight: its fiber is its own (see `InFiber.fetchAlone`). */
    [InFiber.fetchAlone](): Effect.Effect<A, TinkError.TinkError> {
      return this.fetchWith(Tracing.operationAlone)
    }
    private fetchWith(
      inSpan: (
        fiber: InFiber.RunningFiber,
        effect: Effect.Effect<A, TinkError.TinkError>,
        options: Tracing.OperationOptions
      ) => Effect.Effect<A, TinkError.TinkError>
    ): Effect.Effect<A, TinkError.TinkError> {
      const check = this.options.check
      const session = this.session
      // The session's own auth, whatever `options` holds: it is what the entry is kept under.
      // Written out rather than spread: one shape for every read.
      const options = this.options
      const sent = send("GET", this.path, {
        auth: { _tag: "User", session },
        query: options.query,
        body: options.body,
        sensitive: options.sensitive,
        idempotent: options.idempotent,
        operation: options.operation,
        route: options.route,
        schema: options.schema
      })
      const checked = check === undefined ? sent : Effect.flatMap(sent, (value) => {
        const error = check(value, session)
        return error === undefined ? Effect.succeed(value) : Effect.fail(error)
      })
      return Effect.withFiberRuntime<A, TinkError.TinkError>((fiber) =>
        inSpan(fiber, checked, {
          operation: this.options.operation,
          scopeHash: session.scopeHash,
          cache: fiber.getFiberRef(ResponseCache.bypassed) ? "bypass" : "miss"
        })
      )
    }
  }

  const read = <A, I>(path: string, options: TinkClient.ReadOptions<A, I>): Effect.Effect<A, TinkError.TinkError> => {
    // Only a user's data has a scope: app-level answers are never cached.
    if (options.auth._tag !== "User") {
      return Tracing.operation(send("GET", path, options), { operation: options.operation })
    }
    const { key, resource } = prepare(path, options)
    return cache.lookup(new CachedRead(path, options, options.auth.session, key, resource))
  }

  const lookupIn = (cache as InFiber.Hooks)[InFiber.lookupIn]

  /**
   * A cached read of `session`'s data by a caller that already runs in `fiber` (see
   * `TinkClient.getForUser`): a hit is then the caller's effect step and the cache's answer.
   */
  const readIn: InFiber.ReadIn = (fiber, read, session) => {
    const request = new CachedRead(read.path, read.options, session, read.key, read.resource)
    return lookupIn !== undefined ? lookupIn(fiber, request) : cache.lookup(request)
  }

  const mutate = <A, I>(
    method: Method,
    path: string,
    options: TinkClient.WriteOptions<A, I>
  ): Effect.Effect<A, TinkError.TinkError> => {
    const effect = send(method, path, options)
    const session = options.auth._tag === "User" ? options.auth.session : undefined
    const span = { operation: options.operation, scopeHash: session?.scopeHash }
    const scopes = new Set(options.invalidates)
    if (session !== undefined) scopes.add(session.scope)
    // A session without a user id may hold the token of any user a mutation changes.
    if (scopes.size > 0) scopes.add(TinkUser.unnamedSessionsScope)
    if (scopes.size === 0) return Tracing.operation(effect, span)
    const invalidate = Effect.zipRight(
      Effect.forEach(scopes, (scope) => cache.invalidate(scope), { discard: true }),
      Tracing.annotateInvalidated
    )
    // Invalidated before the caller sees the result, unless Tink certainly changed nothing: a
    // mutation whose outcome is unknown (a timeout, a 5xx) may have changed the data.
    return Tracing.operation(
      Effect.onExit(effect, (exit) => {
        if (Exit.isSuccess(exit)) return invalidate
        const failure = Cause.failureOption(exit.cause)
        return Option.isSome(failure) && isDefiniteRejection(failure.value) ? Effect.void : invalidate
      }),
      span
    )
  }

  return { read, readIn, mutate }
}
