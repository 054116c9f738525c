import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { Connection } from "./redisConnection.js"
import type { ErrorCount, RedisStoreError } from "./redisErrors.js"
import { reasonOf, scopeTag } from "./redisErrors.js"
import * as LastDelivery from "./redisLastDelivery.js"
import * as Metrics from "./redisMetrics.js"

/**
 * An invalidation not delivered yet: how many were asked for, and whether a fiber is delivering
 * them.
 *
 * @internal
 */
export interface Pending {
  requested: number
  delivering: boolean
}

/**
 * Scopes whose invalidation has not reached Redis yet. `phase` is `closing` from the moment the
 * last delivery starts: invalidations that fail then are left to it instead of forking a delivery
 * into the closing scope. It is `closed` once that is over: an invalidation that fails then is
 * lost at once, and counted as such.
 *
 * @internal
 */
export interface PendingState {
  readonly scopes: Map<string, Pending>
  phase: "open" | "closing" | "closed"
}

/**
 * Invalidations that survive Redis failing: one that cannot be delivered is remembered at once
 * (reads of its scope bypass Redis) and redelivered in the background until Redis has it; the
 * scope's close gives whatever is still pending a last delivery.
 *
 * @internal
 */
export interface Invalidations {
  readonly isPending: (scope: string) => boolean
  readonly invalidate: (scope: string) => Effect.Effect<void>
}

/**
 * Builds the invalidations of a store and adds the last delivery to the scope. Build it after the
 * connection, so the last delivery runs before the connection closes.
 *
 * @internal
 */
export const make = (options: {
  readonly bump: (scope: string) => Effect.Effect<void, RedisStoreError>
  readonly connection: Connection
  readonly errors: ErrorCount
  readonly retrySchedule: Schedule.Schedule<unknown, unknown>
  readonly lastDeliveryWait: LastDelivery.Options["wait"]
}): Effect.Effect<Invalidations, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { bump, errors, retrySchedule } = options
    const state: PendingState = { scopes: new Map(), phase: "open" }
    const pending = state.scopes
    const storeScope = yield* Effect.scope

    /**
     * Redelivers a scope's invalidation until Redis has it. The pending mark is cleared only if no
     * other invalidation of the scope was asked for while this delivery was under way; otherwise
     * it delivers again, so the bump that clears the mark happened after the last invalidation.
     * If a finite `retrySchedule` runs out, the scope stays pending (it keeps bypassing Redis) and
     * its next invalidation starts a new delivery.
     */
    const redeliver = (scope: string, entry: Pending): Effect.Effect<void> =>
      Effect.suspend(() => {
        const requested = entry.requested
        return Effect.retry(bump(scope), retrySchedule).pipe(
          Effect.matchEffect({
            onFailure: (error) =>
              Effect.suspend(() => {
                entry.delivering = false
                return Effect.logError("Redis response cache: gave up delivering an invalidation").pipe(
                  Effect.annotateLogs({ scope: scopeTag(scope), reason: reasonOf(error.cause) })
                )
              }),
            onSuccess: () => {
              if (entry.requested !== requested) return redeliver(scope, entry)
              if (pending.get(scope) === entry) pending.delete(scope)
              return Effect.logInfo("Redis response cache: pending invalidation delivered").pipe(
                Effect.annotateLogs("scope", scopeTag(scope))
              )
            }
          })
        )
      })

    const startDelivery = (scope: string, entry: Pending) =>
      Effect.suspend(() => {
        // While closing, the last delivery works through every pending scope: forking into the
        // closing scope would interrupt the delivery at once.
        if (state.phase !== "open" || entry.delivering) return Effect.void
        entry.delivering = true
        // Interruptible: the invalidation runs in a mutation's uninterruptible exit handler, and
        // closing the cache must not wait for a Redis that never comes back.
        return Effect.asVoid(Effect.forkIn(Effect.interruptible(redeliver(scope, entry)), storeScope))
      })

    /** An invalidation that failed after close: nothing will deliver it any more. */
    const lostAfterClose = (scope: string, error: RedisStoreError) =>
      Effect.suspend(() => {
        Metrics.invalidationsLost.unsafeUpdate(1, [])
        return Effect.logError(
          "Redis response cache: an invalidation asked for after the cache closed was lost; other instances may serve that user's old entries until their TTL"
        ).pipe(Effect.annotateLogs({ scope: scopeTag(scope), reason: reasonOf(error.cause) }))
      })

    const invalidate = (scope: string) =>
      Effect.suspend(() => {
        const entry = pending.get(scope)
        if (entry !== undefined) {
          // Still pending: the delivery under way (or the last one, at close) sees the new count
          // and delivers once more.
          entry.requested++
          return startDelivery(scope, entry)
        }
        return bump(scope).pipe(
          Effect.catchAll((error) =>
            Effect.suspend(() => {
              errors.record()
              if (state.phase === "closed") return lostAfterClose(scope, error)
              // Marked before anything else runs, so reads from now on bypass Redis. Another
              // invalidation of the scope may have failed meanwhile: its mark is reused.
              const marked: Pending = pending.get(scope) ?? { requested: 0, delivering: false }
              marked.requested++
              pending.set(scope, marked)
              return Effect.logWarning(
                "Redis response cache: invalidation not delivered; the scope bypasses Redis until it is"
              ).pipe(
                Effect.annotateLogs({ scope: scopeTag(scope), reason: reasonOf(error.cause) }),
                Effect.zipRight(startDelivery(scope, marked))
              )
            })
          )
        )
      })

    // Added before any redelivery is forked into this scope: those fibers are interrupted first.
    yield* Effect.addFinalizer(() =>
      LastDelivery.run(state, { bump, ready: options.connection.ready, wait: options.lastDeliveryWait })
    )

    return { isPending: (scope) => pending.has(scope), invalidate }
  })
