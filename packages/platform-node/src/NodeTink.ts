/**
 * tink-effect wired for Node: the Tink client over undici, with a memory cache or, when a Redis
 * URL is given, a Redis cache shared by every instance.
 *
 * @since 0.1.0
 */
import { ResponseCache, TinkClient } from "@tink-effect/core"
import type * as Sandbox from "@tink-effect/sandbox/Sandbox"
import type * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as NodeTinkHttpClient from "./NodeTinkHttpClient.js"
import * as RedisResponseStore from "./RedisResponseStore.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly config: TinkClient.Options
  /** Share the cache through Redis; omitted: an in-process memory cache. */
  readonly redis?: RedisResponseStore.Options | undefined
  /** Entries the memory cache holds at most. Default 10 000. */
  readonly capacity?: number | undefined
}

/**
 * The Tink client and its cache, over undici through the lean `NodeTinkHttpClient` (a
 * keep-alive pool per origin). A malformed Redis URL fails with a `ConfigError` that never
 * quotes it. To bring another transport, use `TinkClient.layer` with any `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<TinkClient.TinkClient | ResponseCache.ResponseCache, ConfigError.ConfigError> =>
  TinkClient.layer(options.config).pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        options.redis === undefined
          ? ResponseCache.layerMemory({ capacity: options.capacity ?? 10_000 })
          : RedisResponseStore.layer(options.redis),
        NodeTinkHttpClient.layer
      )
    )
  )

/**
 * The same, from `Config`s: the application decides where values come from.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<Options>
): Layer.Layer<
  TinkClient.TinkClient | ResponseCache.ResponseCache,
  ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(config, layer))

/** Letters, digits and `. _ : -`: no braces, which would break the `{scope}` hash tag of the keys. */
const namespacePattern = /^[A-Za-z0-9._:-]{1,64}$/

/** A Redis key namespace from variable `name`; a bad one fails naming it, without quoting it. */
const redisNamespace = (name: string): Config.Config<string> =>
  Config.nested(
    Config.string().pipe(Config.mapOrFail((namespace) =>
      namespacePattern.test(namespace)
        ? Either.right(namespace)
        : Either.left(ConfigError.InvalidData([], "The Redis namespace must be 1-64 characters of A-Z a-z 0-9 . _ : -"))
    )),
    name
  )

/**
 * The environment variables: `TINK_CLIENT_ID`, `TINK_CLIENT_SECRET` (read as `Redacted`),
 * `TINK_BASE_URL` (default https://api.tink.com), `TINK_REQUEST_TIMEOUT` (milliseconds, e.g.
 * `2500`, or a duration such as `5 seconds`; default 10 seconds), `TINK_MAX_RETRIES` (default
 * 3), `TINK_REDIS_URL` (one Redis) or `TINK_REDIS_CLUSTER_NODES` (comma-separated seed URLs of a
 * Redis Cluster; neither: memory cache; both: a `ConfigError`), `TINK_REDIS_NAMESPACE` (the Redis
 * key prefix, default `tink`) and `TINK_CACHE_KEY` (base64 of 32 bytes, comma-separated newest
 * first while rotating: encrypts every value stored in Redis; unset: values are stored in clear).
 * The last two are used only with Redis. A missing or malformed variable fails with a
 * `ConfigError` naming it when the layer is built; the secret, the Redis URLs (which may hold a
 * password) and the cache key are read as `Redacted` and never echoed.
 *
 * @since 0.1.0
 * @category config
 */
export const fromEnv: Config.Config<Options> = Config.all({
  config: TinkClient.optionsFromConfig(TinkClient.envConfig),
  redisUrl: Config.option(RedisResponseStore.redisUrl("TINK_REDIS_URL")),
  cluster: Config.option(RedisResponseStore.redisCluster("TINK_REDIS_CLUSTER_NODES")),
  namespace: Config.option(redisNamespace("TINK_REDIS_NAMESPACE")),
  cacheKeys: Config.option(RedisResponseStore.cacheKeys("TINK_CACHE_KEY"))
}).pipe(
  Config.mapOrFail(({ cacheKeys, cluster, config, namespace, redisUrl }) => {
    if (Option.isSome(redisUrl) && Option.isSome(cluster)) {
      return Either.left(
        ConfigError.InvalidData(
          ["TINK_REDIS_CLUSTER_NODES"],
          "Set either TINK_REDIS_URL (one Redis) or TINK_REDIS_CLUSTER_NODES (a Redis Cluster), not both"
        )
      )
    }
    const shared = {
      namespace: Option.getOrUndefined(namespace),
      encryption: Option.match(cacheKeys, { onNone: () => undefined, onSome: (keys) => ({ keys }) })
    }
    return Either.right({
      config,
      redis: Option.isSome(redisUrl)
        ? { url: redisUrl.value, ...shared }
        : Option.isSome(cluster)
        ? { cluster: cluster.value, ...shared }
        : undefined
    })
  })
)

/**
 * `layerConfig(fromEnv)`: everything from the environment.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEnv: Layer.Layer<
  TinkClient.TinkClient | ResponseCache.ResponseCache,
  ConfigError.ConfigError
> = layerConfig(fromEnv)

/**
 * Options of `layerSandbox`; all have defaults.
 *
 * @since 0.2.0
 * @category models
 */
export interface SandboxOptions {
  /** Where the sandbox listens (default a free port of 127.0.0.1), its own options, its control endpoints. */
  readonly server?: SandboxServer.Options | undefined
  /** Client options over the sandbox's credentials and URL, e.g. `{ maxRetries: 0 }`. */
  readonly config?: Partial<TinkClient.Options> | undefined
  /** Share the cache through Redis; omitted: a memory cache. */
  readonly redis?: RedisResponseStore.Options | undefined
  /** Entries the memory cache holds at most. Default 10 000. */
  readonly capacity?: number | undefined
}

/**
 * The served sandbox, loaded only when `layerSandbox` is built: platform-node does not depend
 * on the sandbox at runtime (a production install has none), so it is an optional peer dependency.
 */
const sandboxServer: Effect.Effect<typeof import("@tink-effect/sandbox/SandboxServer")> = Effect.orDieWith(
  Effect.tryPromise(() => import("@tink-effect/sandbox/SandboxServer")),
  () =>
    new Error(
      "NodeTink.layerSandbox needs @tink-effect/sandbox (and @effect/platform-node): " +
        "npm install --save-dev @tink-effect/sandbox"
    )
)

/**
 * The Node client (undici, real sockets) against a fresh sandbox served over HTTP on this machine,
 * with its app credentials and URL filled in: for local development and integration tests.
 * Provides the `Sandbox` service too (seed data, switch faults, count requests; see
 * `@tink-effect/sandbox/SandboxClient` for seeding helpers) and where it listens
 * (`SandboxServer`), e.g. to point another process at it. The client keeps production's retry
 * delays and timeouts, which sleep on the Clock: under `TestClock` use `it.live`, or pass
 * `config: SandboxClient.testDefaults`.
 *
 * Needs `@tink-effect/sandbox` installed (an optional peer dependency, e.g. a devDependency); it is
 * loaded when the layer is built, so nothing else in platform-node requires it.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerSandbox = (
  options: SandboxOptions = {}
): Layer.Layer<
  TinkClient.TinkClient | ResponseCache.ResponseCache | Sandbox.Sandbox | SandboxServer.SandboxServer,
  ConfigError.ConfigError
> =>
  Layer.unwrapEffect(Effect.map(sandboxServer, (module) => {
    const app = options.server?.sandbox?.clients?.[0]
    const client = Layer.unwrapEffect(Effect.map(module.SandboxServer, (served) =>
      layer({
        config: {
          clientId: app?.clientId ?? "sandbox-client",
          clientSecret: Redacted.make(app?.clientSecret ?? "sandbox-secret"),
          baseUrl: served.url,
          ...options.config
        },
        redis: options.redis,
        capacity: options.capacity
      })))
    return Layer.provideMerge(client, module.layer(options.server))
  }))
