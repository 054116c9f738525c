/**
 * Reads without a generation (issue 10.1): when an instance's store read fails or times out, the
 * read cannot know whether another instance changed the scope since any flight in progress began.
 * Such a read must neither join a flight nor be joined, and must store nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache } from "@tink-effect/core"
import { Deferred, Duration, Effect, FastCheck, Fiber, FiberId, Ref, Schema } from "effect"
import { flaky } from "./utils/stores.js"

const ttl = Duration.seconds(30)
const scope = "u:1"

/** Lets forked fibers run up to their next wait (store reads here are synchronous effects). */
const settle = Effect.repeatN(Effect.yieldNow(), 20)

describe("reads without a generation (10.1)", () => {
  it.scoped("a read that starts after another instance's invalidation does not join an earlier flight", () =>
    Effect.gen(function*() {
      const shared = ResponseCache.makeMemoryStore({ capacity: 100 })
      const storeA = flaky(shared)
      const a = yield* ResponseCache.make(storeA)
      const b = yield* ResponseCache.make(flaky(shared))
      const version = yield* Ref.make("old")
      const calls = yield* Ref.make(0)
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const fetch = Effect.gen(function*() {
        const n = yield* Ref.updateAndGet(calls, (c) => c + 1)
        const value = yield* Ref.get(version)
        if (n === 1) {
          yield* Deferred.succeed(started, undefined)
          yield* Deferred.await(gate)
        }
        return value
      })
      const read = (cache: ResponseCache.Service) =>
        cache.lookup({ scope, key: "GET /a", ttl, schema: Schema.String, fetch })

      storeA.failing = true
      const first = yield* Effect.fork(read(a))
      yield* Deferred.await(started)
      // Another instance deletes the data at Tink and invalidates; its mutation returns.
      yield* Ref.set(version, "new")
      yield* b.invalidate(scope)
      // A read on A starts now, its store read failing too: it must not get the first read's answer.
      const second = yield* Effect.fork(read(a))
      yield* settle
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* Fiber.join(first), "old")
      assert.strictEqual(yield* Fiber.join(second), "new")
      assert.strictEqual(yield* Ref.get(calls), 2)
      // Neither read had a generation: nothing was stored, so a trusted read goes to Tink.
      assert.strictEqual(storeA.counts.writes, 0)
      storeA.failing = false
      assert.strictEqual(yield* read(a), "new")
      assert.strictEqual(yield* Ref.get(calls), 3)
      const stats = yield* a.stats
      assert.deepStrictEqual([stats.misses, stats.coalesced], [3, 0])
    }))

  it.scoped("a read with a generation does not join a read without one, nor the reverse", () =>
    Effect.gen(function*() {
      const store = flaky(ResponseCache.makeMemoryStore({ capacity: 100 }))
      const cache = yield* ResponseCache.make(store)
      const gate = yield* Deferred.make<void>()
      const calls = yield* Ref.make(0)
      const fetch = Effect.zipRight(Deferred.await(gate), Ref.updateAndGet(calls, (n) => n + 1))
      const read = cache.lookup({ scope, key: "GET /a", ttl, schema: Schema.Number, fetch })
      store.failing = true
      const without1 = yield* Effect.fork(read)
      const without2 = yield* Effect.fork(read)
      yield* settle
      store.failing = false
      const with1 = yield* Effect.fork(read)
      const with2 = yield* Effect.fork(read)
      yield* settle
      yield* Deferred.succeed(gate, undefined)
      const values = [yield* Fiber.join(without1), yield* Fiber.join(without2), yield* Fiber.join(with1)]
      assert.strictEqual(yield* Fiber.join(with2), values[2])
      // Two reads without a generation run on their own; the two with one share a flight.
      assert.strictEqual(yield* Ref.get(calls), 3)
      assert.strictEqual(new Set(values).size, 3)
      assert.strictEqual(store.counts.writes, 1)
    }))

  /*
   * The class: any interleaving of reads through instances whose store reads fail or succeed at
   * random, mutations through any instance, and upstream answers arriving in any order. Tink
   * answers with the version current when the request reaches it; the oracle is C5: a read that
   * starts after a mutation returned never returns a version older than that mutation.
   */
  type Step =
    | { readonly _tag: "read"; readonly instance: number; readonly failing: boolean; readonly key: number }
    | { readonly _tag: "mutate"; readonly instance: number }
    | { readonly _tag: "release"; readonly pick: number }

  const step: FastCheck.Arbitrary<Step> = FastCheck.oneof(
    FastCheck.record({
      _tag: FastCheck.constant("read" as const),
      instance: FastCheck.nat(2),
      failing: FastCheck.boolean(),
      key: FastCheck.nat(1)
    }),
    FastCheck.record({ _tag: FastCheck.constant("mutate" as const), instance: FastCheck.nat(2) }),
    FastCheck.record({ _tag: FastCheck.constant("release" as const), pick: FastCheck.nat(100) })
  )

  it.effect.prop(
    "no read that starts after a mutation returned sees older data, whatever the store failures (C5)",
    [FastCheck.array(step, { minLength: 5, maxLength: 40 })],
    ([steps]) =>
      Effect.gen(function*() {
        const shared = ResponseCache.makeMemoryStore({ capacity: 100 })
        const stores = [flaky(shared), flaky(shared), flaky(shared)]
        const caches = yield* Effect.forEach(stores, ResponseCache.make)
        let version = 0
        let returned = 0
        let open = false
        const pending: Array<Deferred.Deferred<void>> = []
        const fetch = Effect.suspend(() => {
          const seen = version
          if (open) return Effect.succeed(seen)
          const gate = Deferred.unsafeMake<void>(FiberId.none)
          pending.push(gate)
          return Effect.as(Deferred.await(gate), seen)
        })
        const reads: Array<{ readonly after: number; readonly fiber: Fiber.RuntimeFiber<number> }> = []
        for (const s of steps) {
          if (s._tag === "read") {
            stores[s.instance]!.failing = s.failing
            const fiber = yield* Effect.fork(
              caches[s.instance]!.lookup({ scope, key: `GET /k${s.key}`, ttl, schema: Schema.Number, fetch })
            )
            reads.push({ after: returned, fiber })
          } else if (s._tag === "mutate") {
            version++
            yield* caches[s.instance]!.invalidate(scope)
            returned = version
          } else if (pending.length > 0) {
            yield* Deferred.succeed(pending.splice(s.pick % pending.length, 1)[0]!, undefined)
          }
          yield* settle
        }
        open = true
        for (const gate of pending.splice(0)) yield* Deferred.succeed(gate, undefined)
        for (const [index, read] of reads.entries()) {
          const value = yield* Fiber.join(read.fiber)
          assert.isAtLeast(value, read.after, `read #${index} started after mutation ${read.after}, got ${value}`)
        }
      }).pipe(Effect.scoped),
    { fastCheck: { numRuns: 100 } }
  )
})
