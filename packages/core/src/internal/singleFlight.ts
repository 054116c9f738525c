import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"

/** @internal */
export interface SingleFlight {
  /**
   * Joins the run of (group, key) in flight, or starts one. `make` is called only by the reader
   * that starts the run (a joiner builds no fetch and no span). The run starts at once, on the
   * caller's stack, in a fiber of its own: a waiter that is interrupted (the one that started the
   * run included) leaves the others and the run alone. When every waiter is gone the run is
   * stopped; closing the owner's scope stops every run.
   */
  readonly run: <A, E>(
    group: string,
    key: string,
    make: () => Effect.Effect<A, E>,
    onStart: () => void,
    onJoin: () => void
  ) => Effect.Effect<A, E>
  /** Later callers of the group start new runs; runs already going finish for their own waiters. */
  readonly forget: (group: string) => void
}

type Resume<A, E> = (effect: Effect.Effect<A, E>) => void

/**
 * One run in flight: its fiber, its waiters, and its exit once it has one. Most runs have one
 * waiter, the reader that started them: it is kept apart, and a set made only for joiners.
 */
interface Flight<A, E> {
  fiber: Fiber.RuntimeFiber<A, E> | undefined
  exit: Exit.Exit<A, E> | undefined
  first: Resume<A, E> | undefined
  joiners: Set<Resume<A, E>> | undefined
}

const isWaited = (flight: Flight<any, any>): boolean =>
  flight.first !== undefined || (flight.joiners !== undefined && flight.joiners.size > 0)

/**
 * The single flight of an owner (a cache, a client) whose scope is given: closing it interrupts
 * the runs still going and waits for them.
 *
 * @internal
 */
export const make = (scope: Scope.Scope): Effect.Effect<SingleFlight> =>
  Effect.suspend(() => {
    const groups = new Map<string, Map<string, Flight<any, any>>>()
    const running = new Set<Fiber.RuntimeFiber<any, any>>()
    let closed = false

    const release = (group: string, key: string, flight: Flight<any, any>) => {
      const flights = groups.get(group)
      if (flights?.get(key) !== flight) return
      flights.delete(key)
      if (flights.size === 0) groups.delete(group)
    }

    /** A waiter: resumed with the run's exit; when the last one leaves early, the run stops. */
    const wait = <A, E>(group: string, key: string, flight: Flight<A, E>): Effect.Effect<A, E> =>
      Effect.async<A, E>((resume) => {
        if (flight.exit !== undefined) return resume(flight.exit)
        if (flight.first === undefined && flight.joiners === undefined) flight.first = resume
        else (flight.joiners ??= new Set()).add(resume)
        return Effect.sync(() => {
          if (flight.first === resume) flight.first = undefined
          else flight.joiners?.delete(resume)
          if (!isWaited(flight) && flight.exit === undefined) {
            // Nobody wants the answer any more: a later read starts afresh.
            release(group, key, flight)
            flight.fiber?.unsafeInterruptAsFork(FiberId.none)
          }
        })
      })

    const run = <A, E>(
      group: string,
      key: string,
      make: () => Effect.Effect<A, E>,
      onStart: () => void,
      onJoin: () => void
    ): Effect.Effect<A, E> =>
      Effect.withFiberRuntime<A, E>((fiber, status) => {
        const existing = groups.get(group)?.get(key) as Flight<A, E> | undefined
        if (existing !== undefined) {
          onJoin()
          return wait(group, key, existing)
        }
        onStart()
        if (closed) return Effect.interrupt
        // Registered synchronously, before anything yields, so concurrent callers cannot both
        // start a run.
        const flight: Flight<A, E> = { fiber: undefined, exit: undefined, first: undefined, joiners: undefined }
        let flights = groups.get(group)
        if (flights === undefined) {
          flights = new Map()
          groups.set(group, flights)
        }
        flights.set(key, flight)
        // Started at once with the caller's context and fiber refs (its span, its request
        // options), and run on this stack up to its first asynchronous step: the request is on
        // its way before the caller yields to the other readers.
        const runtime = Runtime.make({
          context: fiber.currentContext,
          fiberRefs: fiber.getFiberRefs(),
          runtimeFlags: status.runtimeFlags
        })
        const child = Runtime.runFork(runtime, make())
        flight.fiber = child
        running.add(child)
        child.addObserver((exit) => {
          running.delete(child)
          release(group, key, flight)
          flight.exit = exit
          const first = flight.first
          const joiners = flight.joiners === undefined ? [] : Array.from(flight.joiners)
          flight.first = undefined
          flight.joiners?.clear()
          first?.(exit)
          for (const resume of joiners) resume(exit)
        })
        return wait(group, key, flight)
      })

    const shutdown = Effect.suspend(() => {
      closed = true
      const fibers = Array.from(running)
      running.clear()
      for (const fiber of fibers) fiber.unsafeInterruptAsFork(FiberId.none)
      return Effect.forEach(fibers, (fiber) => fiber.await, { discard: true })
    })

    const singleFlight: SingleFlight = {
      run,
      forget: (group) => {
        groups.delete(group)
      }
    }
    return Effect.as(Scope.addFinalizer(scope, shutdown), singleFlight)
  })
