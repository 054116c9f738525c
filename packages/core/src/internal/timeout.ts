import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"

/** The clock every program has unless it installs another one (a TestClock, say). */
const liveClock = Context.get(DefaultServices.liveServices, Clock.Clock)

/** The longest delay `setTimeout` keeps (about 24.8 days); longer ones go the general way. */
const maxTimerMillis = 2 ** 31 - 1

/**
 * `Effect.timeoutFail`, made cheap where the clock is the live one: `effect` runs at once, on
 * this stack, in one fiber, and a `setTimeout` ends the wait, where `Effect.timeoutFail` races
 * two fibers and a sleep (tens of microseconds per call, and the request would only start once
 * the scheduler got to the racing fiber). Under any other clock (TestClock) it is
 * `Effect.timeoutFail` itself, so tests keep controlling time. Either way the effect is
 * interrupted at the deadline, and the caller gets `onTimeout()` once it has stopped.
 *
 * @internal
 */
export const timeoutFail = <A, E, E2>(
  effect: Effect.Effect<A, E>,
  duration: Duration.Duration,
  onTimeout: () => E2
): Effect.Effect<A, E | E2> =>
  Effect.withFiberRuntime<A, E | E2>((fiber, status) => {
    const millis = Duration.toMillis(duration)
    if (millis === Infinity) return effect
    if (Context.get(fiber.currentDefaultServices, Clock.Clock) !== liveClock || !(millis <= maxTimerMillis)) {
      return Effect.timeoutFail(effect, { duration, onTimeout })
    }
    // Runs with this fiber's context, refs (its span) and flags, until its first asynchronous step.
    const child = Runtime.runFork(
      Runtime.make({
        context: fiber.currentContext,
        fiberRefs: fiber.getFiberRefs(),
        runtimeFlags: status.runtimeFlags
      }),
      effect
    )
    const done = child.unsafePoll()
    if (done !== null) return done
    return Effect.async<A, E | E2>((resume) => {
      const onExit = (exit: Exit.Exit<A, E>) => {
        clearTimeout(timer)
        resume(exit)
      }
      const timer = setTimeout(() => {
        child.removeObserver(onExit)
        child.unsafeInterruptAsFork(fiber.id())
        resume(Effect.zipRight(Fiber.await(child), Effect.fail(onTimeout())))
      }, millis)
      child.addObserver(onExit)
      // The caller was interrupted: so is the effect, and the caller waits for it to stop.
      return Effect.suspend(() => {
        clearTimeout(timer)
        child.removeObserver(onExit)
        return Fiber.interrupt(child)
      })
    })
  })
