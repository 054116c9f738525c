/**
 * The Tink client: one service that every Tink operation goes through, with the app's
 * credentials, where Tink is and how patient to be. It adds the base URL and auth, allows each
 * attempt a timeout, retries what is safe to retry, maps Tink's errors to typed cases, decodes
 * responses, and serves reads from the response cache (mutations invalidate it).
 *
 * Build it with `layer(options)` or `layerConfig(configs)`; it requires an `HttpClient` (the
 * application chooses the transport) and a `ResponseCache` (memory or Redis).
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as CachePolicy from "./CachePolicy.js"
import * as InFiber from "./internal/inFiber.js"
import * as ClientOptions from "./internal/options.js"
import * as Pipeline from "./internal/pipeline.js"
import * as SingleFlight from "./internal/singleFlight.js"
import * as Tracing from "./internal/tracing.js"
import { ResponseCache } from "./ResponseCache.js"
import * as TinkError from "./TinkError.js"
import * as TinkUser from "./TinkUser.js"

/**
 * The client's settings. Only the app credentials are required.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** The app's client id; not a secret, but never needed in logs either. */
  readonly clientId: string
  /** The app's client secret, kept `Redacted` so it cannot be printed by accident. */
  readonly clientSecret: Redacted.Redacted<string>
  /** Tink's API root. Default `https://api.tink.com`. */
  readonly baseUrl?: string | undefined
  /** Time allowed for one HTTP attempt. Default 10 seconds. */
  readonly requestTimeout?: Duration.DurationInput | undefined
  /** Retries after the first attempt, when a retry is safe. Default 3; 0 turns retries off. */
  readonly maxRetries?: number | undefined
  /** First backoff delay; it doubles per retry, with ±20 % jitter. Default 200 ms. */
  readonly retryBaseDelay?: Duration.DurationInput | undefined
  /** Longest wait before one retry; a longer `Retry-After` fails instead. Default 30 seconds. */
  readonly maxRetryDelay?: Duration.DurationInput | undefined
  /** Per-resource cache TTLs that replace the defaults of the policy table. */
  readonly cacheTtl?: Partial<Record<CachePolicy.Resource, Duration.DurationInput>> | undefined
  /** Send trace propagation headers to Tink. Off by default: trace ids are ours, not Tink's. */
  readonly tracePropagation?: boolean | undefined
}

/**
 * How a request authenticates: a managed app token for the given scopes, a user session's
 * token, the app's client id and secret in the form body (OAuth's token endpoint), or not at all.
 *
 * @since 0.1.0
 * @category models
 */
export type Auth =
  | { readonly _tag: "App"; readonly scopes: ReadonlyArray<string> }
  | { readonly _tag: "User"; readonly session: TinkUser.Session }
  | { readonly _tag: "ClientSecret" }
  | { readonly _tag: "None" }

/**
 * A request body: JSON, or form-urlencoded as Tink's OAuth endpoints expect. Form values may be
 * `Redacted`; they are revealed only when the body is encoded.
 *
 * @since 0.1.0
 * @category models
 */
export type Body =
  | { readonly _tag: "Json"; readonly value: unknown }
  | {
    readonly _tag: "Form"
    readonly value: Readonly<Record<string, string | Redacted.Redacted<string> | undefined>>
  }

/**
 * Options shared by every method.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestOptions {
  readonly auth: Auth
  /** Query parameters as pairs; repeated names are kept. */
  readonly query?: CachePolicy.QueryParams | undefined
  readonly body?: Body | undefined
  /** Further cache scopes a successful mutation invalidates, beyond the session's own. */
  readonly invalidates?: ReadonlyArray<string> | undefined
  /** The answer carries secrets or tokens: errors must not describe it. Implied by client-secret auth. */
  readonly sensitive?: boolean | undefined
  /**
   * For app tokens: whether a 401 means the token expired, so a new one is fetched and the request
   * sent once more (the default). Grant endpoints answer 401 for "no access to that user or
   * scope", which a new token does not fix: they set this to false, and the token is only dropped.
   */
  readonly renewOn401?: boolean | undefined
  /** Safe to repeat (changes nothing on Tink), so it is retried like a read. */
  readonly idempotent?: boolean | undefined
  /** The operation's name: its span is `tink.users.<operation>`. Omitted: no operation span. */
  readonly operation?: string | undefined
  /** The path with ids as placeholders, for spans and metric labels, which must not hold ids. */
  readonly route?: string | undefined
}

/**
 * Options of a read: the response schema is required, since a read returns data.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadOptions<A, I> extends RequestOptions {
  readonly schema: Schema.Schema<A, I>
  /**
   * Whether an answer may be cached; one that is not is still returned. Users' reads keep only
   * answers that Tink's own data ties to the session's user.
   */
  readonly storeIf?: ((value: A, session: TinkUser.Session) => boolean) | undefined
  /**
   * A check of every answer fetched for a read with a user session (a miss, a read with caching
   * off), before it is stored or handed to the reads that joined it: an error it returns fails
   * the read. A cached value passed it when it was fetched (and `storeIf` with it), so a hit
   * runs nothing. Users' reads refuse data Tink ties to another user than the session's.
   */
  readonly check?: ((value: A, session: TinkUser.Session) => TinkError.TinkError | undefined) | undefined
}

/**
 * Options of a read of the session user's data (`getForUser`): the auth is the session's.
 *
 * @since 0.2.0
 * @category models
 */
export interface UserReadOptions<A, I> extends Omit<ReadOptions<A, I>, "auth"> {}

/**
 * Options of a mutation: without a schema the body is ignored and the result is void.
 *
 * @since 0.1.0
 * @category models
 */
export interface WriteOptions<A, I> extends RequestOptions {
  readonly schema?: Schema.Schema<A, I> | undefined
}

/**
 * A mutating method: without a schema in the options the result is void.
 *
 * @since 0.1.0
 * @category models
 */
export type Write = <A = void, I = never>(
  path: string,
  options: WriteOptions<A, I>
) => Effect.Effect<A, TinkError.TinkError>

/**
 * The client. GETs with a user session go through the cache; every other method invalidates the
 * session's scope (and `invalidates`) when it succeeds, and also when its outcome is unknown
 * (a timeout, a 5xx), since Tink may then have changed the data.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly get: <A, I>(path: string, options: ReadOptions<A, I>) => Effect.Effect<A, TinkError.TinkError>
  readonly post: Write
  readonly put: Write
  readonly patch: Write
  readonly delete: Write
  /**
   * Runs `effect` once for all callers that ask with the same key while it is in flight, e.g.
   * a credential refresh, which Tink rejects when another one is running. It starts at once in
   * a fiber of its own: an interrupted caller leaves the others waiting, and when every caller
   * has gone it is interrupted (so is it when the client's layer closes).
   */
  readonly shared: <A, E>(key: string, effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
}

/**
 * The Tink client service; build it with `layer` or `layerConfig`.
 *
 * @since 0.1.0
 * @category tags
 */
export class TinkClient extends Context.Tag("@tink-effect/core/TinkClient")<TinkClient, Service>() {}

/**
 * An app token with these scopes, managed by the client.
 *
 * @since 0.1.0
 * @category auth
 */
export const appAuth = (...scopes: ReadonlyArray<string>): Auth => ({ _tag: "App", scopes })

/**
 * The token of a user session.
 *
 * @since 0.1.0
 * @category auth
 */
export const userAuth = (session: TinkUser.Session): Auth => ({ _tag: "User", session })

/**
 * The app's client id and secret, which the client adds to the request's form body: for Tink's
 * OAuth token endpoint, e.g. exchanging an authorization code. The secret never leaves the client.
 *
 * @since 0.2.0
 * @category auth
 */
export const clientSecretAuth: Auth = { _tag: "ClientSecret" }

/**
 * No authentication.
 *
 * @since 0.1.0
 * @category auth
 */
export const noAuth: Auth = { _tag: "None" }

/**
 * Runs an operation made of several requests (e.g. grant, exchange, then delete) in one span,
 * `tink.users.<operation>`, like the spans the client opens for single-request operations.
 *
 * @since 0.2.0
 * @category tracing
 */
export const withOperationSpan =
  (operation: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Tracing.operation(effect, { operation })

/**
 * Builds the client over the `HttpClient` and `ResponseCache` in context. Bad options fail with
 * a `ConfigError` naming the option, without quoting its value.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<Service, ConfigError.ConfigError, HttpClient.HttpClient | ResponseCache | Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* ClientOptions.resolveEffect(options)
    const cache = yield* ResponseCache
    const scope = yield* Effect.scope
    const http = yield* HttpClient.HttpClient
    // One single flight for app tokens ("client-token") and `shared` runs: closing the layer stops both.
    const flights = yield* SingleFlight.make(scope)
    const pipeline = Pipeline.make(http, config, cache, flights)
    const write = (method: Pipeline.Method) => <A, I>(path: string, options: WriteOptions<A, I>) =>
      pipeline.mutate<A, I>(method, path, options)
    const noop = () => {}
    const service = TinkClient.of({
      get: pipeline.read,
      shared: (key, effect) => flights.run("shared", key, () => effect, noop, noop),
      post: write("POST"),
      put: write("PUT"),
      patch: write("PATCH"),
      delete: write("DELETE")
    })
    return Object.assign(service, { [InFiber.readIn]: pipeline.readIn })
  })

/** The client in `fiber`'s context reads; `provide` when the session is not in that context. */
const readFor = <A, I>(
  fiber: InFiber.RunningFiber,
  read: InFiber.PreparedRead<A, I>,
  session: TinkUser.Session,
  provide: boolean
): Effect.Effect<A, TinkError.TinkError> => {
  const context = fiber.currentContext as Context.Context<TinkClient>
  const client: Service = context.unsafeMap.get(TinkClient.key) ?? Context.get(context, TinkClient)
  const readIn = (client as InFiber.Hooks)[InFiber.readIn]
  if (readIn !== undefined) return readIn(fiber, read, session)
  // A client built elsewhere (a test double) reads through `get`, and may look for the session.
  const got = client.get(read.path, { ...read.options, auth: userAuth(session) })
  return provide ? Effect.provideService(got, TinkUser.TinkUser, session) : got
}

/**
 * A cached read of the data of the session in context: `get` with the session's auth, the client
 * and the session read from context in the same effect step as the cache's answer, so a hit
 * costs one step. Given its session by `TinkUser.provide`, it leaves the fiber's context alone.
 * `Users`' reads are built on it.
 *
 * @since 0.2.0
 * @category reads
 */
export const getForUser = <A, I>(
  path: string,
  options: UserReadOptions<A, I>
): Effect.Effect<A, TinkError.TinkError, TinkClient | TinkUser.TinkUser> => {
  const prepared = Pipeline.prepare(path, options)
  const read = Effect.withFiberRuntime<A, TinkError.TinkError>((fiber) => {
    const context = fiber.currentContext as Context.Context<TinkUser.TinkUser>
    const session: TinkUser.Session = context.unsafeMap.get(TinkUser.TinkUser.key) ??
      Context.get(context, TinkUser.TinkUser)
    return readFor(fiber, prepared, session, false)
  })
  const withSession: InFiber.WithSession<A, TinkError.TinkError, TinkClient> = (session) =>
    Effect.withFiberRuntime((fiber) => readFor(fiber, prepared, session, true))
  InFiber.withSession.set(read, withSession)
  return read
}

/**
 * The client as a layer. It requires an `HttpClient` (the application chooses the transport,
 * e.g. `NodeHttpClient.layerUndici`) and a `ResponseCache`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<TinkClient, ConfigError.ConfigError, HttpClient.HttpClient | ResponseCache> =>
  Layer.scoped(TinkClient, make(options))

/**
 * The client with its options read from `Config`s, so the application decides where values come
 * from. Give each option its own `Config` (or one `Config` of them all); a missing or bad value
 * fails with a `ConfigError` naming the variable, without quoting the value.
 *
 * @example
 * ```ts
 * TinkClient.layerConfig({
 *   clientId: Config.string("TINK_CLIENT_ID"),
 *   clientSecret: Config.redacted("TINK_CLIENT_SECRET"),
 *   baseUrl: Config.string("TINK_BASE_URL").pipe(Config.withDefault("https://api.tink.com"))
 * })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<TinkClient, ConfigError.ConfigError, HttpClient.HttpClient | ResponseCache> =>
  Layer.scoped(TinkClient, Effect.flatMap(optionsFromConfig(config), make))

/**
 * The options as one `Config`, each field checked as it loads: a bad value is a `ConfigError`
 * naming the variable it came from. For composing with other settings (e.g. a Redis URL) before
 * calling `layer`; `layerConfig` uses it.
 *
 * @since 0.2.0
 * @category config
 */
export const optionsFromConfig = (config: Config.Config.Wrap<Options>): Config.Config<Options> =>
  ClientOptions.fromWrapped(config)

/**
 * The conventional environment variables, for `layerConfig`: `TINK_CLIENT_ID`,
 * `TINK_CLIENT_SECRET` (read as `Redacted`), `TINK_BASE_URL` (default https://api.tink.com),
 * `TINK_REQUEST_TIMEOUT` (a whole number of milliseconds, e.g. `2500`, or a duration such as
 * `5 seconds`; default 10 seconds) and `TINK_MAX_RETRIES` (a whole number, 0 or more; default 3).
 * A malformed value is a `ConfigError` naming its variable, without quoting the value.
 *
 * @since 0.2.0
 * @category config
 */
export const envConfig: Config.Config.Wrap<Options> = {
  clientId: Config.string("TINK_CLIENT_ID"),
  clientSecret: Config.redacted("TINK_CLIENT_SECRET"),
  baseUrl: Config.string("TINK_BASE_URL").pipe(Config.withDefault("https://api.tink.com")),
  requestTimeout: ClientOptions.optionalVariable("TINK_REQUEST_TIMEOUT", ClientOptions.parseDuration),
  maxRetries: ClientOptions.optionalVariable("TINK_MAX_RETRIES", ClientOptions.parseCount)
}

/**
 * Settings `withRequestOptions` changes for the requests of one effect; a field left out keeps
 * the client's option of the same name.
 *
 * @since 0.2.0
 * @category models
 */
export interface CallOptions {
  /** Time allowed for one HTTP attempt of each request the effect makes. */
  readonly requestTimeout?: Duration.DurationInput | undefined
  /** Retries after the first attempt, when a retry is safe; 0 turns retries off. */
  readonly maxRetries?: number | undefined
}

/**
 * Runs an effect with other limits for the Tink requests it makes (app-token requests included),
 * e.g. no retries for a request a user is waiting on, or a longer timeout for a slow listing:
 *
 * ```ts
 * Users.listCredentials().pipe(TinkClient.withRequestOptions({ maxRetries: 0, requestTimeout: "2 seconds" }))
 * ```
 *
 * Nested calls combine, the inner one winning per field. Reads that join a request already in
 * flight (see the cache's coalescing) share that request and its limits. A bad value fails
 * with a `TinkValidationError` naming the option, before the effect runs.
 *
 * @since 0.2.0
 * @category combinators
 */
export const withRequestOptions: {
  (
    options: CallOptions
  ): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | TinkError.TinkValidationError, R>
  <A, E, R>(effect: Effect.Effect<A, E, R>, options: CallOptions): Effect.Effect<
    A,
    E | TinkError.TinkValidationError,
    R
  >
} = dual(2, <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options: CallOptions
): Effect.Effect<A, E | TinkError.TinkValidationError, R> =>
  Either.match(ClientOptions.checkOverrides(options), {
    onLeft: (problem) =>
      Effect.fail(
        new TinkError.TinkValidationError({ method: "-", path: "-", errorMessage: `withRequestOptions: ${problem}` })
      ),
    onRight: (checked) => Effect.locallyWith(effect, ClientOptions.overrides, (current) => ({ ...current, ...checked }))
  }))
