/**
 * tink-effect wired for Node: the Tink client over undici, with a memory cache or, when a Redis
 * URL is given, a Redis cache shared by every instance.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { TinkClient, TinkConfig } from "@tink-effect/core"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ResponseCache from "./ResponseCache.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly config: TinkConfig.Options
  /** Share the cache through Redis; omitted: an in-process memory cache. */
  readonly redis?: ResponseCache.RedisOptions | undefined
  /** Entries the memory cache holds at most. Default 10 000. */
  readonly capacity?: number | undefined
}

/**
 * The Tink client, its cache and its configuration, over undici. A malformed Redis URL fails with
 * a `ConfigError` that never quotes it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<TinkClient.TinkClient | ResponseCache.ResponseCache | TinkConfig.TinkConfig, ConfigError.ConfigError> =>
  TinkClient.layer.pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        TinkConfig.layer(options.config),
        options.redis === undefined
          ? ResponseCache.layerMemory({ capacity: options.capacity ?? 10_000 })
          : ResponseCache.layerRedis(options.redis),
        NodeHttpClient.layerUndici
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
  TinkClient.TinkClient | ResponseCache.ResponseCache | TinkConfig.TinkConfig,
  ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(config, layer))

/**
 * The environment variables: `TINK_CLIENT_ID`, `TINK_CLIENT_SECRET`, `TINK_BASE_URL` (default
 * https://api.tink.com) and `TINK_REDIS_URL` (unset: memory cache). A missing variable, or a
 * malformed `TINK_REDIS_URL`, fails with a `ConfigError` naming it; the secret and the URL (which
 * may hold a password) are read as `Redacted` and never echoed.
 *
 * @since 0.1.0
 * @category config
 */
export const fromEnv: Config.Config<Options> = Config.all({
  config: TinkConfig.fromEnv,
  redisUrl: Config.option(ResponseCache.redisUrl("TINK_REDIS_URL"))
}).pipe(
  Config.map(({ config, redisUrl }) => ({
    config,
    redis: Option.match(redisUrl, { onNone: () => undefined, onSome: (url) => ({ url }) })
  }))
)

/**
 * `layerConfig(fromEnv)`: everything from the environment.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEnv: Layer.Layer<
  TinkClient.TinkClient | ResponseCache.ResponseCache | TinkConfig.TinkConfig,
  ConfigError.ConfigError
> = layerConfig(fromEnv)
