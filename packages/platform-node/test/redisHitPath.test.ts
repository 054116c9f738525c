import { assert, describe, it } from "@effect/vitest"
import { CachePolicy, ResponseCache } from "@tink-effect/core"
import { Duration, Effect, Option, Ref, Schema } from "effect"
import * as DecodeMemo from "../src/internal/redisDecodeMemo.js"
import { RedisStoreError } from "../src/internal/redisErrors.js"
import * as NearCache from "../src/internal/redisNearCache.js"
import * as Reply from "../src/internal/redisReply.js"
import * as ServerCheck from "../src/internal/redisServerCheck.js"
import * as RedisStore from "../src/internal/redisStore.js"
import { admin, dropNamespace, monitor, namespace, redisUrl } from "./utils/redis.js"

// The hit paths of the Redis store: `readNow` answering near-cache hits with no effect step, and
// the decode memo sparing a read whose reply carries bytes decoded before. Both on the real Redis.

const Versioned = Schema.Struct({ version: Schema.Number })
const Other = Schema.Struct({ version: Schema.Number, extra: Schema.optional(Schema.String) })

const instance = (ns: string, near: boolean) =>
  Effect.gen(function*() {
    const store = yield* RedisStore.make({
      url: redisUrl,
      namespace: ns,
      timeout: "250 millis",
      ...(near ? { nearCache: { capacity: 100 } } : {})
    })
    const cache = yield* ResponseCache.make(store)
    return { store, cache }
  })

const upstream = Effect.map(Ref.make(0), (calls) => ({
  calls: Ref.get(calls),
  fetch: Effect.map(Ref.updateAndGet(calls, (n) => n + 1), (version) => ({ version }))
}))

const lookup = (
  cache: ResponseCache.Service,
  fetch: Effect.Effect<{ readonly version: number }>,
  options: { readonly partition?: string; readonly guard?: string; readonly scope?: string } = {}
) =>
  cache.lookup({
    scope: options.scope ?? "u:alice",
    key: "GET /credentials",
    partition: options.partition,
    guard: options.guard,
    ttl: Duration.minutes(1),
    schema: Versioned,
    fetch
  })

/** Reads until the near cache holds the read (the miss's own write costs one more Redis read). */
const warm = (read: Effect.Effect<unknown>) => Effect.repeatN(read, 2)

describe("Redis store hit path", () => {
  it.scopedLive("readNow answers a near-cache hit synchronously, and only that", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const control = yield* admin
      yield* Effect.addFinalizer(() => dropNamespace(control, ns))
      const a = yield* instance(ns, true)
      const tink = yield* upstream
      const readNow = a.store.readNow!
      assert.isDefined(readNow)

      // Not remembered yet: the store cannot answer without I/O.
      assert.isUndefined(readNow("u:alice", "p1", "GET /credentials", Versioned, Date.now()))
      yield* warm(lookup(a.cache, tink.fetch, { partition: "p1" }))
      const watch = yield* monitor(ns)
      const now = readNow<{ version: number }>("u:alice", "p1", "GET /credentials", Versioned, Date.now())
      assert.isDefined(now)
      assert.isTrue(Option.isSome(now!.value))
      const value = Option.getOrThrow(now!.value)
      assert.deepStrictEqual(value, { version: 1 })
      assert.isTrue(Object.isFrozen(value))
      // Another partition, another request key, another schema, another scope: not this read.
      assert.isUndefined(readNow("u:alice", "p2", "GET /credentials", Versioned, Date.now()))
      assert.isUndefined(readNow("u:alice", "p1", "GET /other", Versioned, Date.now()))
      assert.isUndefined(readNow("u:alice", "p1", "GET /credentials", Other, Date.now()))
      assert.isUndefined(readNow("u:bob", "p1", "GET /credentials", Versioned, Date.now()))
      // The cache's hits go through readNow: no Redis command at all.
      const hits = yield* Effect.all(Array.from({ length: 5 }, () => lookup(a.cache, tink.fetch, { partition: "p1" })))
      assert.isTrue(hits.every((hit) => hit === value))
      assert.deepStrictEqual(yield* watch.take, [])
      assert.strictEqual(yield* tink.calls, 1)

      // A connection not heard from (or lost) is not trusted: readNow hands the read to `read`.
      a.store.near!.suspend()
      assert.isUndefined(readNow("u:alice", "p1", "GET /credentials", Versioned, Date.now()))
      a.store.near!.heard(now!.generation!.slice(0, 17))
      assert.isDefined(readNow("u:alice", "p1", "GET /credentials", Versioned, Date.now()))
      a.store.near!.lost("connection")
      assert.isUndefined(readNow("u:alice", "p1", "GET /credentials", Versioned, Date.now()))
    }))

  it.scopedLive("an invalidation stops readNow at once, and the next read is fresh", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const control = yield* admin
      yield* Effect.addFinalizer(() => dropNamespace(control, ns))
      const a = yield* instance(ns, true)
      const tink = yield* upstream
      yield* warm(lookup(a.cache, tink.fetch))
      assert.isDefined(a.store.readNow!("u:alice", "", "GET /credentials", Versioned, Date.now()))
      yield* a.cache.invalidate("u:alice")
      assert.isUndefined(a.store.readNow!("u:alice", "", "GET /credentials", Versioned, Date.now()))
      assert.deepStrictEqual(yield* lookup(a.cache, tink.fetch), { version: 2 })
    }))

  it.scopedLive("a session without a user id: the guard read is answered by readNow too", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const control = yield* admin
      yield* Effect.addFinalizer(() => dropNamespace(control, ns))
      const a = yield* instance(ns, true)
      const tink = yield* upstream
      const read = lookup(a.cache, tink.fetch, { partition: "token-hash", guard: "g:unnamed" })
      yield* Effect.repeatN(read, 3)
      const watch = yield* monitor(ns)
      yield* Effect.repeatN(read, 4)
      assert.deepStrictEqual(yield* watch.take, [])
      assert.isDefined(a.store.readNow!("g:unnamed", "", "\u0001guard", Schema.Unknown, Date.now()))
      // A mutation bumps the guard: the same read is fetched again.
      yield* a.cache.invalidate("g:unnamed")
      assert.deepStrictEqual(yield* read, { version: 2 })
    }))

  it.scopedLive("the near cache's remembered read is found by its parts and by its combined key alike", () =>
    Effect.sync(() => {
      const near = NearCache.make({ namespace: "t", capacity: 10, silenceMs: 1_000 })
      near.heard("0123456789abcdef:")
      const key = CachePolicy.entryKey("p", CachePolicy.schemaFingerprint(Versioned), "GET /x")
      near.fillRead(near.begin("u:a"), key, "0123456789abcdef:1", Option.some({ version: 1 }), 60_000)
      assert.isDefined(near.get("u:a", key))
      assert.isDefined(near.getNow("u:a", "p", "GET /x", Versioned))
      assert.isUndefined(near.getNow("u:a", "p", "GET /x", Other))
      // One read per partition and request key: another schema's fill replaces it.
      near.fillRead(
        near.begin("u:a"),
        NearCache.slotOf(CachePolicy.entryKey("p", CachePolicy.schemaFingerprint(Other), "GET /x"), Other),
        "0123456789abcdef:1",
        Option.some({ version: 2 }),
        60_000
      )
      assert.isUndefined(near.getNow("u:a", "p", "GET /x", Versioned))
      assert.isUndefined(near.get("u:a", key))
      assert.isDefined(near.getNow("u:a", "p", "GET /x", Other))
      assert.deepStrictEqual(near.census(), { entries: 1, scopes: 1 })
    }))

  it.scopedLive("without a near cache, a read of unchanged bytes is not decoded again; changed bytes are", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const control = yield* admin
      yield* Effect.addFinalizer(() => dropNamespace(control, ns))
      const a = yield* instance(ns, false)
      const b = yield* instance(ns, false)
      assert.isUndefined(a.store.readNow)
      const tink = yield* upstream
      yield* lookup(a.cache, tink.fetch)
      const first = yield* lookup(b.cache, tink.fetch)
      const second = yield* lookup(b.cache, tink.fetch)
      // Both answered by Redis (the same bytes): the second is the value decoded for the first.
      assert.strictEqual(second, first)
      assert.isTrue(Object.isFrozen(second))
      // Another instance invalidates and stores a new value: B decodes the new bytes.
      yield* a.cache.invalidate("u:alice")
      assert.deepStrictEqual(yield* lookup(a.cache, tink.fetch), { version: 2 })
      assert.deepStrictEqual(yield* lookup(b.cache, tink.fetch), { version: 2 })
      assert.strictEqual(yield* tink.calls, 2)
    }))

  it.effect("the decode memo answers only the same entry, generation, bytes and schema", () =>
    Effect.gen(function*() {
      const server = yield* ServerCheck.make({ ms: 100 })
      const decoded = DecodeMemo.make(2)
      const stored = JSON.stringify({ version: 7 })
      const read = (scope: string, key: string, generation: string, bytes: string, schema = Versioned) =>
        Reply.decodeRead([generation, bytes], schema, server, undefined, { decoded, scope, key }) as Reply.DecodedRead<
          unknown
        >
      const value = (result: Reply.DecodedRead<unknown>) => Option.getOrThrow(result.value)
      const first = value(read("u:a", "k", "e:1", stored))
      assert.isTrue(Object.isFrozen(first))
      assert.strictEqual(value(read("u:a", "k", "e:1", stored)), first)
      assert.notStrictEqual(value(read("u:b", "k", "e:1", stored)), first)
      assert.notStrictEqual(value(read("u:a", "k2", "e:1", stored)), first)
      assert.notStrictEqual(value(read("u:a", "k", "e:2", stored)), first)
      assert.deepStrictEqual(value(read("u:a", "k", "e:2", JSON.stringify({ version: 8 }))), { version: 8 })
      assert.deepStrictEqual(value(read("u:a", "k", "e:2", stored, Other)), { version: 7 })
      // Bounded: the oldest decoded leave first.
      assert.strictEqual(decoded.size(), 2)
      // A value that does not decode is never remembered, and still an error.
      const bad = Reply.decodeRead(["e:1", "{\"version\":\"x\"}"], Versioned, server, undefined, {
        decoded,
        scope: "u:c",
        key: "k"
      })
      assert.instanceOf(bad, RedisStoreError)
    }))
})
