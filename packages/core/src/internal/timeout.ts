import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as FiberId from "effect/FiberId"
import type * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as Runtime from "effect/Runtime"

/** The clock every program has unless it installs another one (a TestClock, say). */
const liveClock = Context.get(DefaultServices.liveServices, Clock.Clock)

/**
 * Fiber refs the effect runs with (as with `Effect.locally`), e.g. the transport's tracing
 * settings. Set in the effect's own fiber where there is one, which costs a fraction of
 * `Effect.locally` (an acquire-use-release per ref).
 *
 * @internal
 */
export type Locals = ReadonlyArray<readonly [FiberRef.FiberRef<any>, unknown]>

const noLocals: Locals = []

const locally = <A, E>(effect: Effect.Effect<A, E>, locals: Locals): Effect.Effect<A, E> => {
  let out = effect
  for (const [ref, value] of locals) out = Effect.locally(out, ref, value)
  return out
}

/** The longest delay `setTimeout` keeps (about 24.8 days); longer ones go the general way. */
const maxTimerMillis = 2 ** 31 - 1

/**
 * A transport's `execute` with the attempt's time limit kept by the transport itself: at
 * `millis` (`Infinity`: none) it aborts the request and fails with `onTimeout()`; interrupting
 * it aborts the request too, and then calls `onInterrupt` (the attempt's record of how it
 * ended: an interrupted effect runs no handler of its own). It sends the request as given: no
 * trace headers of its own (the caller adds them), as the transport does under the tracing
 * settings attempts run with. The answer must be read whole when it succeeds, its text under
 * `bodyTextKey`, so that only synchronous work follows it.
 *
 * @internal
 */
export type ExecuteWithin = <E>(
  request: HttpClientRequest.HttpClientRequest,
  millis: number,
  onTimeout: () => E,
  onInterrupt?: () => void
) => Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError | E>

/**
 * Where a response read whole keeps its body as text (UTF-8, as `text` gives it), so that an
 * attempt decodes it in the step that receives the response. Registered, like `executeWithinKey`.
 *
 * @internal
 */
export const bodyTextKey: unique symbol = Symbol.for("@tink-effect/core/HttpClientResponse/bodyText")

/** The body text of a response read whole, or `undefined` for any other response. @internal */
export const bodyTextOf = (response: HttpClientResponse.HttpClientResponse): string | undefined => {
  const text = (response as { readonly [bodyTextKey]?: unknown })[bodyTextKey]
  return typeof text === "string" ? text : undefined
}

/**
 * The key a transport (`NodeTinkHttpClient`) keeps its `ExecuteWithin` under on its
 * `HttpClient`. A registered symbol: the transport's package needs no import from this one for
 * it, and a client wrapped by `HttpClient`'s combinators has none, so it goes the general way.
 *
 * @internal
 */
export const executeWithinKey: unique symbol = Symbol.for("@tink-effect/core/HttpClient/executeWithin")

/** @internal */
export const executeWithinOf = (http: HttpClient.HttpClient): ExecuteWithin | undefined => {
  const within = (http as { readonly [executeWithinKey]?: unknown })[executeWithinKey]
  return typeof within === "function" ? within as ExecuteWithin : undefined
}

/**
 * The time limit in milliseconds as a transport's own timer keeps it (`Infinity`: none), or
 * `undefined` where only `timeoutFail` may keep it: under another clock than the live one (a
 * TestClock keeps control of time), or beyond what a timer holds.
 *
 * @internal
 */
export const timerMillis = (
  fiber: { readonly currentDefaultServices: Context.Context<DefaultServices.DefaultServices> },
  duration: Duration.Duration
): number | undefined => {
  const millis = Duration.toMillis(duration)
  if (millis === Infinity) return millis
  return Context.get(fiber.currentDefaultServices, Clock.Clock) === liveClock && millis <= maxTimerMillis
    ? millis
    : undefined
}

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
  onTimeout: () => E2,
  locals: Locals = noLocals
): Effect.Effect<A, E | E2> =>
  Effect.withFiberRuntime<A, E | E2>((fiber, status) => {
    const millis = Duration.toMillis(duration)
    if (millis === Infinity) return locally(effect, locals)
    if (Context.get(fiber.currentDefaultServices, Clock.Clock) !== liveClock || !(millis <= maxTimerMillis)) {
      return Effect.timeoutFail(locally(effect, locals), { duration, onTimeout })
    }
    // Runs with this fiber's context, refs (its span) and flags, until its first asynchronous step.
    // The child is the effect's alone, so `locals` are set in it from the start: nothing to restore.
    const child = Runtime.runFork(
      Runtime.make({
        context: fiber.currentContext,
        fiberRefs: fiber.getFiberRefs(),
        runtimeFlags: status.runtimeFlags
      }),
      effect,
      locals.length === 0 ? undefined : {
        updateRefs: (refs, id) =>
          FiberRefs.updateManyAs(refs, {
            // The refs are the child's already (forked by `runFork`): set as its values only.
            entries: locals.map(([ref, value]) =>
              [ref, [[id, value]]] as const
            ) as unknown as Arr.NonEmptyReadonlyArray<
              readonly [FiberRef.FiberRef<any>, Arr.NonEmptyReadonlyArray<readonly [FiberId.Single, unknown]>]
            >
          })
      }
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
