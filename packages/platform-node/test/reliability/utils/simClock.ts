import { Clock, Duration, Effect, Fiber, Option } from "effect"

interface Sleeper {
  readonly at: number
  readonly order: number
  readonly wake: () => void
}

/**
 * A simulated Clock for in-memory runs: time moves only when `drive` moves it, to the next
 * sleeper's deadline, after letting real promises (in-memory HTTP bodies) settle. Unlike the
 * TestClock it does not poll for suspended fibers with real timers, so a run of a few hundred
 * steps takes milliseconds; the order of wake-ups is fixed, so a run replays the same way.
 */
export class SimClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  private now: number
  private order = 0
  private sleepers: Array<Sleeper> = []

  constructor(start = 0) {
    this.now = start
  }

  unsafeCurrentTimeMillis(): number {
    return this.now
  }

  unsafeCurrentTimeNanos(): bigint {
    return BigInt(this.now) * 1_000_000n
  }

  readonly currentTimeMillis: Effect.Effect<number> = Effect.sync(() => this.now)
  readonly currentTimeNanos: Effect.Effect<bigint> = Effect.sync(() => this.unsafeCurrentTimeNanos())

  sleep(duration: Duration.Duration): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const sleeper: Sleeper = {
        at: this.now + Math.max(0, Duration.toMillis(duration)),
        order: this.order++,
        wake: () => resume(Effect.void)
      }
      this.sleepers.push(sleeper)
      return Effect.sync(() => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper)
      })
    })
  }

  /** Wakes every sleeper due at the earliest deadline; false when nobody sleeps. */
  advance(): boolean {
    if (this.sleepers.length === 0) return false
    const at = Math.min(...this.sleepers.map((s) => s.at))
    this.now = Math.max(this.now, at)
    const due = this.sleepers.filter((s) => s.at <= this.now).sort((a, b) => a.order - b.order)
    this.sleepers = this.sleepers.filter((s) => s.at > this.now)
    for (const sleeper of due) sleeper.wake()
    return true
  }

  nextDeadline(): number | undefined {
    return this.sleepers.length === 0 ? undefined : Math.min(...this.sleepers.map((s) => s.at))
  }

  /**
   * Runs until every fiber is done. Before each move of the clock, real promises get a few turns
   * of the event loop; before a long jump (a timeout, a TTL) many more, so a body still being
   * read is never mistaken for a stalled request.
   */
  drive<A, E>(fibers: ReadonlyArray<Fiber.RuntimeFiber<A, E>>): Effect.Effect<void> {
    const clock = {
      now: () => this.now,
      nextDeadline: () => this.nextDeadline(),
      advance: () => this.advance()
    }
    return Effect.gen(function*() {
      let idle = 0
      for (;;) {
        yield* turns(3)
        if (yield* allDone(fibers)) return
        const next = clock.nextDeadline()
        if (next !== undefined && next - clock.now() > 500) {
          yield* turns(50)
          if (yield* allDone(fibers)) return
        }
        if (clock.advance()) {
          idle = 0
        } else if (++idle > 10_000) {
          return yield* Effect.dieMessage("SimClock: fibers neither finish nor sleep")
        }
      }
    })
  }
}

const turn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
const turns = (n: number) => Effect.repeatN(turn, n - 1)

const allDone = <A, E>(fibers: ReadonlyArray<Fiber.RuntimeFiber<A, E>>) =>
  Effect.map(Effect.forEach(fibers, Fiber.poll), (polls) => polls.every(Option.isSome))
