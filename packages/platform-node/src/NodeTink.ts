/**
 * tink-effect wired for Node: the Tink client over undici, with a memory cache or, when a Redis
 * URL is given, a Redis cache shared by every instance.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ResponseCache, TinkClient } from "@tink-effect/core"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
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
 * The Tink client and its cache, over undici. A malformed Redis URL fails with
 * a `ConfigError` that never quotes it.
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
  TinkClient.TinkClient | ResponseCache.ResponseCache,
  ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(config, layer))

/**
 * The environment variables: `TINK_CLIENT_ID`, `TINK_CLIENT_SECRET`, `TINK_BASE_URL` (default
 * https://api.tink.com) and `TINK_REDIS_URL` (unset: memory cache). A missing variable, or a
 * malformed `TINK_BASE_URL` or `TINK_REDIS_URL`, fails with a `ConfigError` naming it; the secret and the URL (which
 * may hold a password) are read as `Redacted` and never echoed.
 *
 * @since 0.1.0
 * @category config
 */
export const fromEnv: Config.Config<Options> = Config.all({
  config: TinkClient.optionsFromConfig(TinkClient.envConfig),
  redisUrl: Config.option(RedisResponseStore.redisUrl("TINK_REDIS_URL"))
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
  TinkClient.TinkClient | ResponseCache.ResponseCache,
  ConfigError.ConfigError
> = layerConfig(fromEnv)
