/**
 * The request pipeline every Tink operation goes through: base URL, auth, per-attempt timeout,
 * retries that are safe for the method, Tink's errors mapped to typed cases, response decoding,
 * and the response cache (reads) or its invalidation (mutations).
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { AccessToken } from "./AccessToken.js"
import * as CachePolicy from "./CachePolicy.js"
import * as ClientTokens from "./internal/clientTokens.js"
import * as Pipeline from "./internal/pipeline.js"
import * as SingleFlight from "./internal/singleFlight.js"
import { ResponseCache } from "./ResponseCache.js"
import * as TinkConfig from "./TinkConfig.js"
import type * as TinkError from "./TinkError.js"
import type * as TinkUser from "./TinkUser.js"

/**
 * Which token a request carries: a managed app token for the given scopes, a user session's
 * token, or none (the OAuth token endpoint authenticates with the client id and secret).
 *
 * @since 0.1.0
 * @category models
 */
export type Auth =
  | { readonly _tag: "App"; readonly scopes: ReadonlyArray<string> }
  | { readonly _tag: "User"; readonly session: TinkUser.Session }
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
  /** The body carries secrets or tokens: errors must not describe it. */
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
}

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
 * session's scope (and `invalidates`) when it succeeds or when its outcome is unknown (C4).
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
   * a credential refresh, which Tink rejects when another one is running.
   */
  readonly shared: <A, E>(key: string, effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
  /** The configuration, for operations that authenticate with the app's own credentials. */
  readonly config: TinkConfig.Resolved
}

/**
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
 * No bearer token.
 *
 * @since 0.1.0
 * @category auth
 */
export const noAuth: Auth = { _tag: "None" }

/**
 * Builds the client over the `HttpClient`, configuration and cache in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<
  Service,
  never,
  HttpClient.HttpClient | TinkConfig.TinkConfig | ResponseCache | Scope.Scope
> = Effect.gen(function*() {
  const config = yield* TinkConfig.TinkConfig
  const cache = yield* ResponseCache
  const scope = yield* Effect.scope
  // Our own `tink.http` span replaces the platform's, which would record full URLs with ids.
  const http = (yield* HttpClient.HttpClient).pipe(
    HttpClient.withTracerPropagation(config.tracePropagation),
    HttpClient.withTracerDisabledWhen(() => true)
  )
  const pipeline = Pipeline.make(http, config, cache)

  const tokens = ClientTokens.make(scope, (scopes) =>
    Effect.map(
      pipeline.send("POST", "/api/v1/oauth/token", {
        auth: noAuth,
        schema: AccessToken,
        sensitive: true,
        idempotent: true,
        body: {
          _tag: "Form",
          value: {
            client_id: config.clientId,
            client_secret: config.clientSecret,
            grant_type: "client_credentials",
            scope: scopes
          }
        }
      }, undefined),
      (answer) => ({ token: answer.accessToken, expiresInSeconds: answer.expiresIn })
    ))

  const write = (method: Pipeline.Method) => <A, I>(path: string, options: WriteOptions<A, I>) =>
    pipeline.mutate<A, I>(method, path, options, tokens)

  const flights = SingleFlight.make(scope)
  const noop = () => {}

  return {
    get: (path, options) => pipeline.read(path, options, tokens),
    shared: (key, effect) => flights.run("shared", key, effect, noop, noop),
    config,
    post: write("POST"),
    put: write("PUT"),
    patch: write("PATCH"),
    delete: write("DELETE")
  }
})

/**
 * The client as a layer. It requires an `HttpClient`: the application chooses the transport.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<TinkClient, never, HttpClient.HttpClient | TinkConfig.TinkConfig | ResponseCache> =
  Layer.scoped(
    TinkClient,
    make
  )
