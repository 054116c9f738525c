import { assert, describe, it } from "@effect/vitest"
import { ResponseCache } from "@tink-effect/platform-node"
import { Effect, Exit, Scope } from "effect"
import * as Redis from "../utils/redis.js"
import * as FaultProxy from "./utils/faultProxy.js"

describe("closing the Redis cache with an invalidation that cannot be delivered", () => {
  for (const uninterruptible of [false, true]) {
    it.live(
      `does not hang (invalidate called ${uninterruptible ? "un" : ""}interruptibly, as mutations do)`,
      () =>
        Effect.gen(function*() {
          yield* Redis.admin
          const proxy = yield* FaultProxy.make(Redis.redisTarget)
          const scope = yield* Scope.make()
          const store = yield* ResponseCache.makeRedisStore({
            url: `redis://127.0.0.1:${proxy.port}`,
            namespace: Redis.namespace(),
            timeout: "50 millis",
            invalidationTimeout: "50 millis"
          }).pipe(Scope.extend(scope))
          yield* proxy.set({ _tag: "cut" })
          const invalidate = store.invalidate("u:someone")
          yield* uninterruptible ? Effect.uninterruptible(invalidate) : invalidate
          const closed = yield* Scope.close(scope, Exit.void).pipe(Effect.timeout("5 seconds"), Effect.either)
          assert.strictEqual(closed._tag, "Right", "the store closed within 5 s")
        }).pipe(Effect.scoped),
      20_000
    )
  }
})
