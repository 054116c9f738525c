import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"

/** @internal */
export interface SingleFlight {
  /**
   * Joins the run of (group, key) in flight, or starts one. The run is forked into the owner's
   * scope, so a waiter that is interrupted leaves the others (and the run) alone.
   */
  readonly run: <A, E>(
    group: string,
    key: string,
    effect: Effect.Effect<A, E>,
    onStart: () => void,
    onJoin: () => void
  ) => Effect.Effect<A, E>
  /** Later callers of the group start new runs; runs already going finish for their own waiters. */
  readonly forget: (group: string) => void
}

/** @internal */
export const make = (scope: Scope.Scope): SingleFlight => {
  const groups = new Map<string, Map<string, Deferred.Deferred<any, any>>>()

  const release = (group: string, key: string, deferred: Deferred.Deferred<any, any>) => {
    const flights = groups.get(group)
    if (flights?.get(key) !== deferred) return
    flights.delete(key)
    if (flights.size === 0) groups.delete(group)
  }

  const run = <A, E>(
    group: string,
    key: string,
    effect: Effect.Effect<A, E>,
    onStart: () => void,
    onJoin: () => void
  ): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      const existing = groups.get(group)?.get(key) as Deferred.Deferred<A, E> | undefined
      if (existing !== undefined) {
        onJoin()
        return Deferred.await(existing)
      }
      onStart()
      // Registered synchronously, before any yield, so concurrent callers cannot both start a run.
      const deferred = Deferred.unsafeMake<A, E>(FiberId.none)
      let flights = groups.get(group)
      if (flights === undefined) {
        flights = new Map()
        groups.set(group, flights)
      }
      flights.set(key, deferred)
      const settle = effect.pipe(
        Effect.exit,
        Effect.flatMap((exit) => {
          release(group, key, deferred)
          return Deferred.done(deferred, exit)
        }),
        Effect.onInterrupt(() => {
          release(group, key, deferred)
          return Deferred.interrupt(deferred)
        })
      )
      return Effect.zipRight(Effect.forkIn(settle, scope), Deferred.await(deferred))
    })

  return {
    run,
    forget: (group) => {
      groups.delete(group)
    }
  }
}
