import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Exit, Fiber, Logger, Metric, Schedule, Schema, Scope } from "effect"
import * as RedisResponseStore from "../../src/RedisResponseStore.js"
import * as Redis from "../utils/redis.js"
import * as TcpProxy from "../utils/tcpProxy.js"
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
          const store = yield* RedisResponseStore.make({
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

/*
 * The last delivery at close (issue 10, item 5; review R1 #2): it works through every pending
 * scope, including those whose invalidation fails while it runs, honours an invalidation asked
 * for during its own bump, and counts as lost exactly what is still pending at the end.
 */
describe("closing the Redis cache: the last delivery", () => {
  const logged: Array<string> = []
  const capture = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message }) => {
      logged.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
    })
  )

  /** Polls (every 10 ms, at most 10 s) until `effect` gives a value satisfying `done`. */
  const eventually = <A>(effect: Effect.Effect<A>, done: (a: A) => boolean) =>
    effect.pipe(
      Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: done }),
      Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("condition never reached") }),
      Effect.orDie
    )

  const setup = (invalidationTimeout: Duration.DurationInput) =>
    Effect.gen(function*() {
      const admin = yield* Redis.admin
      const proxy = yield* TcpProxy.make(Redis.redisTarget)
      const ns = Redis.namespace()
      yield* Effect.addFinalizer(() => Redis.dropNamespace(admin, ns))
      const scope = yield* Scope.make()
      const store = yield* RedisResponseStore.make({
        url: proxy.url,
        namespace: ns,
        timeout: "1 second",
        invalidationTimeout,
        generationTtl: "2 minutes",
        // No redelivery before close: whatever is delivered, is delivered by the last delivery.
        retrySchedule: Schedule.spaced("1 hour")
      }).pipe(Scope.extend(scope))
      const generation = (scope: string) => Effect.map(admin.send(["GET", `${ns}:gen:{${scope}}`]), String)
      for (const user of ["u:a", "u:b", "u:other"]) yield* store.read(user, "k", Schema.String)
      return {
        proxy,
        store,
        generation,
        close: Effect.fork(Scope.close(scope, Exit.void)),
        /** Waits until the store has begun its last delivery. */
        closingStarted: eventually(
          Effect.sync(() => logged.some((line) => /closing; last delivery/.test(line))),
          (started) => started
        )
      }
    })

  it.live(
    "an invalidation that fails while the cache closes is delivered with the others when Redis comes back",
    () =>
      Effect.gen(function*() {
        logged.length = 0
        const t = yield* setup("5 seconds")
        const [a, b] = [yield* t.generation("u:a"), yield* t.generation("u:b")]
        const lost = (yield* Metric.value(RedisResponseStore.invalidationsLost)).count

        yield* t.proxy.cut
        yield* t.store.invalidate("u:a")
        const closing = yield* t.close
        yield* t.closingStarted
        yield* t.store.invalidate("u:b") // a mutation returning while the layer closes
        yield* t.proxy.restore
        yield* Fiber.join(closing)

        assert.notStrictEqual(yield* t.generation("u:a"), a, "u:a delivered at close")
        assert.notStrictEqual(yield* t.generation("u:b"), b, "u:b delivered at close")
        assert.strictEqual((yield* Metric.value(RedisResponseStore.invalidationsLost)).count, lost, "nothing lost")
        assert.isTrue(logged.some((line) => /INFO .*pending invalidations delivered at close/.test(line)))
      }).pipe(Effect.scoped, Effect.provide(capture)),
    30_000
  )

  it.live(
    "Redis never back: every undelivered invalidation is counted, those made during close too",
    () =>
      Effect.gen(function*() {
        logged.length = 0
        const t = yield* setup("200 millis")
        const lost = (yield* Metric.value(RedisResponseStore.invalidationsLost)).count

        yield* t.proxy.cut
        yield* t.store.invalidate("u:a")
        const closing = yield* t.close
        yield* t.closingStarted
        yield* t.store.invalidate("u:b")
        yield* Fiber.join(closing)
        // And one asked for after the cache closed.
        yield* t.store.invalidate("u:other")

        assert.strictEqual((yield* Metric.value(RedisResponseStore.invalidationsLost)).count, lost + 3)
        assert.isTrue(logged.some((line) => /ERROR .*2 pending invalidation\(s\) lost at close/.test(line)))
        assert.isTrue(logged.some((line) => /ERROR .*asked for after the cache closed was lost/.test(line)))
      }).pipe(Effect.scoped, Effect.provide(capture)),
    30_000
  )

  it.live(
    "an invalidation asked for during the last delivery's bump is delivered after it",
    () =>
      Effect.gen(function*() {
        const t = yield* setup("5 seconds")
        const before = BigInt((yield* t.generation("u:a")).split(":")[1]!)

        yield* t.proxy.cut
        yield* t.store.invalidate("u:a")
        yield* t.proxy.restore
        // Connected again (a script answers), and u:a still pending (no redelivery before close).
        yield* eventually(t.store.read("u:other", "k", Schema.String), (read) => read.generation !== undefined)

        // The last delivery's bump is held on the way to Redis while another invalidation comes in.
        yield* t.proxy.pause
        const closing = yield* t.close
        yield* eventually(t.proxy.held, (held) => held > 0)
        yield* t.store.invalidate("u:a")
        yield* t.proxy.restore
        yield* Fiber.join(closing)

        assert.strictEqual(BigInt((yield* t.generation("u:a")).split(":")[1]!), before + 2n, "two bumps")
      }).pipe(Effect.scoped),
    30_000
  )
})
