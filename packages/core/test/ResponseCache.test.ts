import { assert, describe, it } from "@effect/vitest"
import { ResponseCache } from "@tink-effect/core"
import { Deferred, Duration, Effect, Exit, Fiber, Option, Ref, Schema, Scope, TestClock } from "effect"

const ttl = Duration.seconds(30)

/** An upstream that counts its calls and returns "<label>#<call number>". */
const makeUpstream = (label: string) =>
  Effect.map(Ref.make(0), (calls) => ({
    calls,
    fetch: Ref.updateAndGet(calls, (n) => n + 1).pipe(Effect.map((n) => `${label}#${n}`))
  }))

const read = (cache: ResponseCache.Service, scope: string, key: string, fetch: Effect.Effect<string, string>) =>
  cache.lookup({ scope, key, ttl, schema: Schema.String, fetch })

const withCache = <A, E>(f: (cache: ResponseCache.Service) => Effect.Effect<A, E>, capacity = 1000) =>
  Effect.flatMap(ResponseCache.ResponseCache, f).pipe(Effect.provide(ResponseCache.layerMemory({ capacity })))

describe("ResponseCache (memory)", () => {
  it.effect("serves a hit within the TTL and misses after it", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const upstream = yield* makeUpstream("v")
        assert.strictEqual(yield* read(cache, "u:1", "GET /a", upstream.fetch), "v#1")
        yield* TestClock.adjust("29 seconds")
        assert.strictEqual(yield* read(cache, "u:1", "GET /a", upstream.fetch), "v#1")
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* read(cache, "u:1", "GET /a", upstream.fetch), "v#2")
        const stats = yield* cache.stats
        assert.deepStrictEqual([stats.hits, stats.misses], [1, 2])
      })
    ))

  it.effect("never stores errors (C1)", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const calls = yield* Ref.make(0)
        const failing = Effect.zipRight(Ref.update(calls, (n) => n + 1), Effect.fail("boom"))
        assert.strictEqual(yield* Effect.flip(read(cache, "u:1", "GET /a", failing)), "boom")
        assert.strictEqual(yield* Effect.flip(read(cache, "u:1", "GET /a", failing)), "boom")
        assert.strictEqual(yield* Ref.get(calls), 2)
      })
    ))

  it.effect("invalidating a scope drops its entries and no one else's", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const upstream = yield* makeUpstream("v")
        yield* read(cache, "u:1", "GET /a", upstream.fetch)
        yield* read(cache, "u:10", "GET /a", upstream.fetch)
        yield* cache.invalidate("u:1")
        assert.strictEqual(yield* read(cache, "u:1", "GET /a", upstream.fetch), "v#3")
        // "u:10" shares a prefix with "u:1" and must survive (the Elixir library's prefix bug).
        assert.strictEqual(yield* read(cache, "u:10", "GET /a", upstream.fetch), "v#2")
      })
    ))

  it.effect("keeps scopes apart on the same key (C8)", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const alice = yield* makeUpstream("alice")
        const bob = yield* makeUpstream("bob")
        assert.strictEqual(yield* read(cache, "u:alice", "GET /list", alice.fetch), "alice#1")
        assert.strictEqual(yield* read(cache, "u:bob", "GET /list", bob.fetch), "bob#1")
        assert.strictEqual(yield* read(cache, "u:alice", "GET /list", alice.fetch), "alice#1")
      })
    ))

  it.effect("a read in flight during an invalidation leaves nothing stale behind (C6)", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const started = yield* Deferred.make<void>()
        const version = yield* Ref.make("old")
        const calls = yield* Ref.make(0)
        const fetch = Effect.gen(function*() {
          const n = yield* Ref.updateAndGet(calls, (c) => c + 1)
          const value = yield* Ref.get(version)
          if (n === 1) {
            yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(gate)
          }
          return value
        })
        const slow = yield* Effect.fork(read(cache, "u:1", "GET /a", fetch))
        yield* Deferred.await(started)
        // The mutation lands while the first read still holds the old value.
        yield* Ref.set(version, "new")
        yield* cache.invalidate("u:1")
        // A read that starts after the invalidation does not join the old one.
        assert.strictEqual(yield* read(cache, "u:1", "GET /a", fetch), "new")
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual(yield* Fiber.join(slow), "old")
        assert.strictEqual(yield* read(cache, "u:1", "GET /a", fetch), "new")
        assert.strictEqual(yield* Ref.get(calls), 2)
      })
    ))

  it.effect("concurrent identical reads make one upstream call and share its result (C7)", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const upstream = yield* makeUpstream("v")
        const gated = Effect.zipRight(Deferred.await(gate), upstream.fetch)
        const readers = yield* Effect.forkAll(Array.from({ length: 50 }, () => read(cache, "u:1", "GET /a", gated)))
        yield* Effect.yieldNow()
        yield* Deferred.succeed(gate, undefined)
        const values = yield* Fiber.join(readers)
        assert.deepStrictEqual(new Set(values), new Set(["v#1"]))
        assert.strictEqual(yield* Ref.get(upstream.calls), 1)
        const stats = yield* cache.stats
        assert.strictEqual(stats.misses + stats.coalesced, 50)
        assert.strictEqual(stats.misses, 1)
      })
    ))

  it.effect("concurrent identical reads share an error too, and one waiter's interruption spares the rest", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const calls = yield* Ref.make(0)
        const failing = Effect.zipRight(
          Effect.zipRight(Ref.update(calls, (n) => n + 1), Deferred.await(gate)),
          Effect.fail("denied")
        )
        const first = yield* Effect.fork(read(cache, "u:1", "GET /a", failing))
        const second = yield* Effect.fork(read(cache, "u:1", "GET /a", failing))
        const third = yield* Effect.fork(read(cache, "u:1", "GET /a", failing))
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(first)
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual(yield* Effect.flip(Fiber.join(second)), "denied")
        assert.strictEqual(yield* Effect.flip(Fiber.join(third)), "denied")
        assert.strictEqual(yield* Ref.get(calls), 1)
      })
    ))

  it.effect("the first reader's fetch starts before the other readers run, and joiners never build one", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        let readersStarted = 0
        let startedWhenFetching: number | undefined
        let lookupsBuilt = 0
        const gate = yield* Deferred.make<void>()
        const fetch = Effect.zipRight(
          Effect.sync(() => {
            startedWhenFetching = readersStarted
          }),
          Effect.as(Deferred.await(gate), "v")
        )
        const reader = Effect.suspend(() => {
          readersStarted++
          // `fetch` is a getter the cache reads only for the read that goes upstream.
          return cache.lookup({
            scope: "u:1",
            key: "GET /a",
            ttl,
            schema: Schema.String,
            get fetch() {
              lookupsBuilt++
              return fetch
            }
          })
        })
        const readers = yield* Effect.forkAll(Array.from({ length: 20 }, () => reader))
        while (readersStarted < 20) yield* Effect.yieldNow()
        yield* Deferred.succeed(gate, undefined)
        assert.deepStrictEqual(yield* Fiber.join(readers), Array.from({ length: 20 }, () => "v"))
        // Sent while the first reader ran, not after the 19 others had queued behind a fork.
        assert.strictEqual(startedWhenFetching, 1)
        assert.strictEqual(lookupsBuilt, 1)
      })
    ))

  it.effect("the interrupted first reader spares the others; all readers interrupted stop the fetch", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const stopped = yield* Deferred.make<void>()
        const calls = yield* Ref.make(0)
        const fetch = Effect.zipRight(Ref.update(calls, (n) => n + 1), Effect.as(Deferred.await(gate), "v")).pipe(
          Effect.onInterrupt(() => Deferred.succeed(stopped, undefined))
        )
        const first = yield* Effect.fork(read(cache, "u:1", "GET /a", fetch))
        const second = yield* Effect.fork(read(cache, "u:1", "GET /a", fetch))
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(first)
        assert.isFalse(yield* Deferred.isDone(stopped))
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual(yield* Fiber.join(second), "v")
        assert.strictEqual(yield* Ref.get(calls), 1)

        // Every reader of another key leaves: its fetch is interrupted, and the next read starts anew.
        const never = Effect.zipRight(Ref.update(calls, (n) => n + 1), Effect.never).pipe(
          Effect.onInterrupt(() => Deferred.succeed(stopped, undefined))
        )
        const a = yield* Effect.fork(read(cache, "u:1", "GET /b", never))
        const b = yield* Effect.fork(read(cache, "u:1", "GET /b", never))
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(a)
        yield* Fiber.interrupt(b)
        yield* Deferred.await(stopped)
        assert.strictEqual(yield* Ref.get(calls), 2)
        assert.strictEqual(yield* read(cache, "u:1", "GET /b", Effect.succeed("fresh")), "fresh")
      })
    ))

  it.effect("closing the cache's scope stops the fetches still running", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const cache = yield* Scope.extend(ResponseCache.make(ResponseCache.makeMemoryStore({ capacity: 10 })), scope)
      const started = yield* Deferred.make<void>()
      const stopped = yield* Deferred.make<void>()
      const fetch = Effect.zipRight(Deferred.succeed(started, undefined), Effect.never).pipe(
        Effect.onInterrupt(() => Deferred.succeed(stopped, undefined))
      )
      const reader = yield* Effect.fork(read(cache, "u:1", "GET /a", fetch))
      yield* Deferred.await(started)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(yield* Deferred.isDone(stopped))
      assert.isTrue(Exit.isInterrupted(yield* Fiber.await(reader)))
    }))

  it.effect("holds at most `capacity` entries, evicting the least recently used (C10)", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const upstream = yield* makeUpstream("v")
        for (const key of ["a", "b", "c"]) yield* read(cache, "u:1", key, upstream.fetch)
        yield* read(cache, "u:1", "a", upstream.fetch) // "a" is now the most recently used
        yield* read(cache, "u:1", "d", upstream.fetch) // evicts "b"
        assert.strictEqual((yield* cache.stats).size, 3)
        const before = yield* Ref.get(upstream.calls)
        yield* read(cache, "u:1", "a", upstream.fetch)
        yield* read(cache, "u:1", "c", upstream.fetch)
        assert.strictEqual(yield* Ref.get(upstream.calls), before)
        yield* read(cache, "u:1", "b", upstream.fetch)
        assert.strictEqual(yield* Ref.get(upstream.calls), before + 1)
      }), 3))

  it.effect("bypass goes upstream and stores nothing", () =>
    withCache((cache) =>
      Effect.gen(function*() {
        const upstream = yield* makeUpstream("v")
        yield* ResponseCache.bypass(read(cache, "u:1", "GET /a", upstream.fetch))
        yield* ResponseCache.bypass(read(cache, "u:1", "GET /a", upstream.fetch))
        assert.strictEqual(yield* read(cache, "u:1", "GET /a", upstream.fetch), "v#3")
        assert.strictEqual((yield* cache.stats).size, 1)
      })
    ))

  it.effect("a store that cannot be trusted (no generation) serves from upstream and stores nothing (C9)", () =>
    Effect.gen(function*() {
      const writes = yield* Ref.make(0)
      const untrusted: ResponseCache.Store = {
        read: () => Effect.succeed({ generation: undefined, value: Option.none() }),
        write: () => Ref.update(writes, (n) => n + 1),
        invalidate: () => Effect.void,
        size: Effect.succeed(0),
        errors: Effect.succeed(1)
      }
      const cache = yield* ResponseCache.make(untrusted)
      const upstream = yield* makeUpstream("v")
      assert.strictEqual(yield* read(cache, "u:1", "GET /a", upstream.fetch), "v#1")
      assert.strictEqual(yield* read(cache, "u:1", "GET /a", upstream.fetch), "v#2")
      assert.strictEqual(yield* Ref.get(writes), 0)
      assert.strictEqual((yield* cache.stats).storeErrors, 1)
    }).pipe(Effect.scoped))
})
