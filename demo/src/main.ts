/**
 * `npm start`: the user lifecycle over real sockets. Against the embedded sandbox by default;
 * against Tink when TINK_CLIENT_ID and TINK_CLIENT_SECRET are set. The cache is in memory, or in
 * Redis when TINK_REDIS_URL is set (its values encrypted when TINK_CACHE_KEY is set too).
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { NodeTink, RedisResponseStore } from "@tink-effect/platform-node"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Lifecycle from "./Lifecycle.js"

const redisUrl = Config.option(Config.redacted("TINK_REDIS_URL"))
const cacheKeys = Config.option(RedisResponseStore.cacheKeys("TINK_CACHE_KEY"))
const useRealTink = Config.option(Config.string("TINK_CLIENT_ID"))

const environment: Effect.Effect<
  Layer.Layer<Lifecycle.Requirements, ConfigError.ConfigError>,
  ConfigError.ConfigError
> = Effect.gen(function*() {
  const keys = yield* cacheKeys
  const redis = Option.match(yield* redisUrl, {
    onNone: () => undefined,
    onSome: (url) => ({
      url,
      encryption: Option.match(keys, { onNone: () => undefined, onSome: (keys) => ({ keys }) })
    })
  })
  // Which mode the Redis values are in, from the same TINK_CACHE_KEY NodeTink.layerEnv reads.
  const cacheName = redis === undefined
    ? "memory"
    : `redis, values ${redis.encryption === undefined ? "in clear" : "encrypted"}`
  if (Option.isSome(yield* useRealTink)) {
    yield* Console.log(`tink-effect lifecycle against Tink (cache: ${cacheName})`)
    return NodeTink.layerEnv
  }
  yield* Console.log(`tink-effect lifecycle against the embedded sandbox over HTTP (cache: ${cacheName})`)
  return NodeTink.layerSandbox({ redis })
})

const program = Effect.gen(function*() {
  yield* Console.log(Lifecycle.header)
  const stats = yield* Lifecycle.run((step) => Console.log(Lifecycle.formatStep(step)))
  yield* Console.log(Lifecycle.formatStats(stats))
})

NodeRuntime.runMain(
  Effect.flatMap(environment, (layer) => Effect.provide(program, layer))
)
