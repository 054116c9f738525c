import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { reasonOf, type RedisStoreError } from "./redisErrors.js"
import * as Metrics from "./redisMetrics.js"
import type { PendingState } from "./redisRedelivery.js"

/** @internal */
export interface Options {
  readonly bump: (scope: string) => Effect.Effect<void, RedisStoreError>
  /** Resolves when the connection is up. */
  readonly ready: Effect.Effect<void>
  /** How long the last delivery may hold up closing. */
  readonly wait: Duration.Duration
}

/** The pause between two rounds of the last delivery after one that failed. */
const gap = Duration.millis(50)

/**
 * On close, a last bounded delivery of every pending invalidation: those pending when closing
 * starts (their redelivery fibers have been interrupted by then: they were forked into the
 * store's scope after this finalizer was added) and those that fail while it runs. It goes round
 * until nothing is pending or the time is up; like a redelivery, it clears a scope's mark only if
 * no invalidation of it was asked for during its bump. What is still pending at the end is lost
 * for the other instances, which may serve those scopes' old entries until their TTL: logged as
 * an error with the count and the reasons (classes only), and counted.
 *
 * @internal
 */
export const run = (state: PendingState, options: Options): Effect.Effect<void> =>
  Effect.suspend(() => {
    const pending = state.scopes
    state.phase = "closing"
    const announce = pending.size === 0 ? Effect.void : Effect.logInfo(
      "Redis response cache: closing; last delivery of the pending invalidations"
    ).pipe(Effect.annotateLogs("scopes", pending.size))
    let delivered = 0
    const reasons = new Map<string, number>()

    /** One bump of every scope pending now; succeeds with whether any of them failed. */
    const round = Effect.suspend(() => {
      const batch = Array.from(pending, ([scope, entry]) => ({ scope, entry, requested: entry.requested }))
      return Effect.forEach(batch, ({ entry, requested, scope }) =>
        options.bump(scope).pipe(
          Effect.match({
            onFailure: (error) => {
              const reason = reasonOf(error.cause)
              reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
              return true
            },
            onSuccess: () => {
              if (entry.requested === requested && pending.get(scope) === entry) {
                pending.delete(scope)
                delivered++
              }
              return false
            }
          })
        ), { concurrency: "unbounded" }).pipe(Effect.map((failed) => failed.includes(true)))
    })

    const loop: Effect.Effect<void> = Effect.suspend(() =>
      pending.size === 0 ? Effect.void : options.ready.pipe(
        Effect.zipRight(round),
        // A round that failed is not repeated at once: Redis refusing (a replica, an ACL) would
        // otherwise be asked in a tight loop until the deadline.
        Effect.flatMap((failed) => failed ? Effect.sleep(gap) : Effect.void),
        Effect.zipRight(loop)
      )
    )

    /** Closed: whatever is still pending is lost, and said so. */
    const report = Effect.suspend(() => {
      state.phase = "closed"
      const lost = pending.size
      pending.clear()
      if (lost === 0) {
        return delivered === 0 ? Effect.void : Effect.logInfo(
          "Redis response cache: pending invalidations delivered at close"
        ).pipe(Effect.annotateLogs("scopes", delivered))
      }
      Metrics.invalidationsLost.unsafeUpdate(lost, [])
      const why = reasons.size === 0
        ? "not connected"
        : Array.from(reasons, ([reason, count]) => `${reason} x${count}`).join(", ")
      return Effect.logError(
        `Redis response cache: ${lost} pending invalidation(s) lost at close; other instances may serve those users' old entries until their TTL`
      ).pipe(Effect.annotateLogs({ lost, delivered, reasons: why }))
    })

    return announce.pipe(
      Effect.zipRight(loop),
      Effect.interruptible,
      Effect.timeoutTo({ duration: options.wait, onTimeout: () => undefined, onSuccess: () => undefined }),
      Effect.zipRight(report)
    )
  })
