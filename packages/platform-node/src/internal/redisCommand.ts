import * as Effect from "effect/Effect"
import { RedisStoreError } from "./redisErrors.js"
import type { Bound } from "./redisSettings.js"

/** node-redis 6's own timeout of every command (`DEFAULT_COMMAND_TIMEOUT`), in ms. */
const nodeRedisTimeoutMs = 5_000
const noTimeout = { timeout: 0 } as const

/**
 * The node-redis options of a command bounded by `limit`. node-redis 6 bounds every command by
 * 5 s of its own, with an `AbortSignal.timeout` per command that cannot be cancelled: its timer
 * fires 5 s after every command, replied or not (measured: ~10-15 µs of CPU per command, more
 * than the rest of our bounded wait). Where our bound is the shorter one, theirs never decides
 * anything and is turned off; a longer or infinite bound keeps it, as before.
 *
 * @internal
 */
export const commandOptions = (limit: Bound): { readonly timeout: number } | undefined =>
  limit.ms !== undefined && limit.ms < nodeRedisTimeoutMs ? noTimeout : undefined

/** One command waiting under a bound: settled once, by its reply, its deadline or nobody (interrupted). */
class Wait<A> {
  settled = false
  constructor(
    readonly operation: string,
    readonly deadline: number,
    readonly resume: (effect: Effect.Effect<A, RedisStoreError>) => void,
    readonly queue: Deadlines | undefined
  ) {}
  succeed(reply: A): void {
    if (this.settled) return
    this.settled = true
    this.queue?.drop()
    this.resume(Effect.succeed(reply))
  }
  fail(cause: unknown): void {
    if (this.settled) return
    this.settled = true
    this.queue?.drop()
    this.resume(Effect.fail(new RedisStoreError({ operation: this.operation, cause })))
  }
}

/**
 * The waits of one bound (in ms), in the order they started: with one bound for all of them,
 * that is also the order of their deadlines. One timer serves them all, armed for the oldest
 * wait still open (or for a later one: it is re-armed for what is left). A wait that settles is
 * only marked, and forgotten once it reaches the head; a timer that finds no open wait stops. A
 * fast command thus costs no timer of its own (one per command: ~1-4 µs more per command).
 */
class Deadlines {
  readonly #waits: Array<Wait<unknown>> = []
  #head = 0
  #timer: ReturnType<typeof setTimeout> | undefined = undefined
  constructor(readonly ms: number) {}

  add(wait: Wait<unknown>): void {
    this.#waits.push(wait)
    if (this.#timer === undefined) this.#arm(this.ms)
    else if (!this.#timer.hasRef()) this.#timer.ref()
  }

  /** Forgets the settled waits at the head at once, so waits die young (no GC promotion). */
  drop(): void {
    const waits = this.#waits
    while (this.#head < waits.length && waits[this.#head]!.settled) this.#head++
    if (this.#head === waits.length) {
      waits.length = 0
      this.#head = 0
      // Like a timer per command cleared by its reply: no open wait holds the process.
      this.#timer?.unref()
    } else if (this.#head > 1024) {
      waits.splice(0, this.#head)
      this.#head = 0
    }
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#expire, ms)
  }

  readonly #expire = (): void => {
    this.#timer = undefined
    const now = performance.now()
    const waits = this.#waits
    for (;;) {
      this.drop()
      const wait = waits[this.#head]
      if (wait === undefined) {
        // Forgotten once empty: bounds that vary (a cluster read's second try) leave nothing behind.
        deadlines.delete(this.ms)
        return
      }
      if (wait.deadline > now) break
      // Settles it, and drops it from the head.
      wait.fail("timeout")
    }
    this.#arm(Math.max(1, Math.ceil(waits[this.#head]!.deadline - now)))
  }
}

const deadlines = new Map<number, Deadlines>()

/**
 * Runs one command with the bounded wait. When the wait runs out we only stop waiting: node-redis
 * still matches the late reply to this command's own promise (replies are FIFO per connection),
 * so the reply queue stays in step for the commands after it.
 *
 * The bound is a timer of our own rather than `Effect.timeout`: the same bound, but without
 * forking a racing fiber per command (measured: ~8 µs against ~55-70 µs per command, on a path
 * whose Redis round trip is ~70-110 µs). It also holds for a caller that cannot be interrupted.
 * Commands under the same bound share one timer (see `Deadlines`).
 *
 * @internal
 */
export const bounded = <A>(operation: string, run: () => Promise<A>, limit: Bound): Effect.Effect<A, RedisStoreError> =>
  Effect.async<A, RedisStoreError>((resume) => {
    const ms = limit.ms
    let queue: Deadlines | undefined
    if (ms !== undefined) {
      queue = deadlines.get(ms)
      if (queue === undefined) deadlines.set(ms, queue = new Deadlines(ms))
    }
    const wait = new Wait<A>(operation, ms === undefined ? Infinity : performance.now() + ms, resume, queue)
    queue?.add(wait as Wait<unknown>)
    try {
      run().then((reply) => wait.succeed(reply), (cause: unknown) => wait.fail(cause))
    } catch (cause) {
      wait.fail(cause)
    }
    // No canceler: returning one makes Effect wrap every command in `onInterrupt` (measured: most
    // of the wait's cost). An interrupted fiber ignores a later resume, so a wait whose caller was
    // interrupted only stays queued until its reply or deadline, then resumes nobody.
  })
