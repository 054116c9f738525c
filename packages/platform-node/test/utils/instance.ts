/**
 * One application instance as the integration tests build it: the real `TinkClient` over undici
 * (real sockets) against a base URL (the sandbox server, or a fault proxy in front of it), with its
 * own response cache. Each call builds a separate instance, with its own HTTP client, its own
 * Redis connection and its own in-process cache state, so several of them sharing one Redis
 * namespace behave like several processes of one application.
 *
 * Tests say only what differs from the application's wiring (the store, a client option, a wrapper
 * around the transport); everything else is written here once.
 */
import { HttpClient } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ResponseCache, TinkClient } from "@tink-effect/core"
import { RedisResponseStore } from "@tink-effect/platform-node"
import { type Context, Effect, Layer, Redacted, type Scope } from "effect"

/** What a built instance provides: the client and the cache it reads through. */
export type Instance = Context.Context<TinkClient.TinkClient | ResponseCache.ResponseCache>

/** The app credentials the sandbox accepts by default. */
export const sandboxClient = { clientId: "sandbox-client", clientSecret: Redacted.make("sandbox-secret") } as const

/** Where an instance keeps its cache: at most one of `redis` and `cache`; neither is a memory cache. */
export type Store =
  | {
    /** A Redis store of the instance's own (its own connection), e.g. on a test namespace. */
    readonly redis: RedisResponseStore.Options
    readonly cache?: never
  }
  | {
    readonly redis?: never
    /**
     * A cache built by the test (e.g. over a store it shares or breaks on purpose); default a
     * memory cache of 10 000 entries. Its errors are defects: it is test wiring.
     */
    readonly cache?: Layer.Layer<ResponseCache.ResponseCache, unknown>
  }

export type Options = Store & {
  /** Tink's API root: the sandbox server's URL, or a proxy's in front of it. */
  readonly baseUrl: string
  /** Client options over the defaults (the sandbox's client id and secret, the library's defaults). */
  readonly client?: Partial<TinkClient.Options> | undefined
  /**
   * Wraps the instance's HTTP client, e.g. to count attempts or hold a response: it sees every
   * attempt the client makes, retries included, as they go on the wire.
   */
  readonly transport?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
  /**
   * The HTTP client under `transport`; default undici over real sockets. Only for worlds without
   * sockets (the in-memory sandbox's client).
   */
  readonly http?: Layer.Layer<HttpClient.HttpClient> | undefined
}

const cacheLayer = (options: Store): Layer.Layer<ResponseCache.ResponseCache, unknown> =>
  options.redis !== undefined
    ? RedisResponseStore.layer(options.redis)
    : options.cache ?? ResponseCache.layerMemory({ capacity: 10_000 })

const httpLayer = (options: Options): Layer.Layer<HttpClient.HttpClient> => {
  const http = options.http ?? NodeHttpClient.layerUndici
  const transport = options.transport
  return transport === undefined
    ? http
    : Layer.effect(HttpClient.HttpClient, Effect.map(HttpClient.HttpClient, transport)).pipe(Layer.provide(http))
}

/**
 * The instance as a layer, e.g. for `Layer.buildWithScope` when a test closes one instance while
 * the others go on. Construction errors (a bad option, an unreachable Redis URL) are defects.
 */
export const layer = (options: Options): Layer.Layer<TinkClient.TinkClient | ResponseCache.ResponseCache> =>
  TinkClient.layer({ ...sandboxClient, baseUrl: options.baseUrl, ...options.client }).pipe(
    Layer.provideMerge(Layer.mergeAll(cacheLayer(options), httpLayer(options))),
    Layer.orDie
  )

/** Builds one instance in the current scope; it is closed (connections, pending work) with it. */
export const build = (options: Options): Effect.Effect<Instance, never, Scope.Scope> => Layer.build(layer(options))
