/**
 * The whole life of a Tink user, step by step, with what the cache did at each step: create a
 * user, grant and exchange a user token, list credentials (a miss, then a hit), refresh and delete
 * a credential (each invalidates the user's cache), delete the user.
 *
 *   npx tsx --conditions=source examples/lifecycle.ts
 *
 * It runs against the sandbox served over HTTP on 127.0.0.1 (a free port), so the requests go
 * through real sockets, undici, retries and decoding, exactly as they would against Tink. Set
 * TINK_REDIS_URL to keep the cache in Redis instead of memory.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Lifecycle } from "@tink-effect/demo"
import { NodeTink, RedisResponseStore } from "@tink-effect/platform-node"
import { Config, Console, Effect, Layer, Option, Ref } from "effect"

// The sandbox on a free port and the Node client pointed at it with the sandbox's default app;
// the cache in Redis when TINK_REDIS_URL is set (a malformed URL is a ConfigError naming it).
const TinkSandbox = Layer.unwrapEffect(
  Effect.map(
    Config.option(RedisResponseStore.redisUrl("TINK_REDIS_URL")),
    (redisUrl) => NodeTink.layerSandbox({ redis: Option.getOrUndefined(Option.map(redisUrl, (url) => ({ url }))) })
  )
)

const program = Effect.gen(function*() {
  // `Lifecycle.run` reports each step as it finishes; print it, and add up the requests.
  const requests = yield* Ref.make(0)
  yield* Console.log(Lifecycle.header)
  const stats = yield* Lifecycle.run((step) =>
    Effect.zipRight(
      Ref.update(requests, (n) => n + (step.requests ?? 0)),
      Console.log(Lifecycle.formatStep(step))
    )
  )
  yield* Console.log(Lifecycle.formatStats(stats))
  yield* Console.log(`requests that reached Tink: ${yield* Ref.get(requests)}`)
})

program.pipe(Effect.provide(TinkSandbox), NodeRuntime.runMain)
