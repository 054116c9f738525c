import { Deferred, Effect } from "effect"
import * as NearCache from "../../src/internal/redisNearCache.js"

/**
 * Resolves at the first near-cache event `match` accepts, listening from the call on (so a test
 * starts listening before it acts); fails the test if none comes within 10 seconds.
 */
export const nextEvent = (match: (event: NearCache.Event) => boolean) =>
  Effect.gen(function*() {
    const seen = yield* Deferred.make<NearCache.Event>()
    const listener = (event: NearCache.Event) => {
      if (match(event)) Deferred.unsafeDone(seen, Effect.succeed(event))
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => NearCache.listeners.add(listener)),
      () => Effect.sync(() => NearCache.listeners.delete(listener))
    )
    return Deferred.await(seen).pipe(
      Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the near cache event never came") }),
      Effect.orDie
    )
  })
