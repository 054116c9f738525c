/**
 * The response schema is part of the cache key (issue 10.7): a cached value only ever goes to a
 * read that decodes it with the same schema, in the memory store, in a store keyed by the key
 * string alone (as Redis is), and among reads in flight.
 */
import { assert, describe, it } from "@effect/vitest"
import { CachePolicy, ResponseCache } from "@tink-effect/core"
import { Deferred, Duration, Effect, Fiber, Ref, Schema } from "effect"
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { all, Category, Credential } from "./fixtures/schemas.js"
import { flaky, keyed } from "./utils/stores.js"

const ttl = Duration.seconds(30)
const Full = Schema.Struct({ id: Schema.String, name: Schema.String })
const Short = Schema.Struct({ id: Schema.String })
/** Accepts what `Full` caches, and would return `name` if handed `Full`'s value. */
const Loose = Schema.Struct({ id: Schema.String, name: Schema.optional(Schema.String) })

/** Tink's answer to a request: the fields the reader asked for, as it decoded them. */
const counted = (calls: Ref.Ref<number>) => <A>(value: A) => Effect.as(Ref.update(calls, (n) => n + 1), value)

const stores: ReadonlyArray<readonly [string, () => ResponseCache.Store]> = [
  ["memory store", () => ResponseCache.makeMemoryStore({ capacity: 100 })],
  ["memory store, asynchronous reads", () => flaky(ResponseCache.makeMemoryStore({ capacity: 100 }))],
  ["a store keyed by the key string (as Redis)", keyed]
]

describe("the schema is part of the cache key (10.7)", () => {
  for (const [name, makeStore] of stores) {
    it.scoped(`${name}: a read with another schema is not served the cached shape`, () =>
      Effect.gen(function*() {
        const cache = yield* ResponseCache.make(makeStore())
        const calls = yield* Ref.make(0)
        const fetch = counted(calls)
        const read = <A, I>(schema: Schema.Schema<A, I>, value: A) =>
          cache.lookup({ scope: "u:1", partition: "t1", key: "GET /x", ttl, schema, fetch: fetch(value) })

        assert.deepStrictEqual(yield* read(Full, { id: "1", name: "Ada" }), { id: "1", name: "Ada" })
        assert.deepStrictEqual(yield* read(Short, { id: "1" }), { id: "1" })
        assert.deepStrictEqual(yield* read(Loose, { id: "1" }), { id: "1" })
        assert.strictEqual(yield* Ref.get(calls), 3)
        // The same schema still hits (the memory store may have replaced an entry: then one more call).
        assert.deepStrictEqual(yield* read(Loose, { id: "never" }), { id: "1" })
        const before = yield* Ref.get(calls)
        const again = yield* read(Full, { id: "1", name: "Ada" })
        assert.deepStrictEqual(again, { id: "1", name: "Ada" })
        assert.isAtMost(yield* Ref.get(calls), before + 1)
      }))
  }

  it.scoped("reads in flight with different schemas do not share a flight", () =>
    Effect.gen(function*() {
      const cache = yield* ResponseCache.make(ResponseCache.makeMemoryStore({ capacity: 100 }))
      const gate = yield* Deferred.make<void>()
      const calls = yield* Ref.make(0)
      const read = <A, I>(schema: Schema.Schema<A, I>, value: A) =>
        cache.lookup({
          scope: "u:1",
          key: "GET /x",
          ttl,
          schema,
          fetch: Effect.zipRight(Deferred.await(gate), counted(calls)(value))
        })
      const full = yield* Effect.fork(read(Full, { id: "1", name: "Ada" }))
      const short = yield* Effect.fork(read(Short, { id: "1" }))
      const fullToo = yield* Effect.fork(read(Full, { id: "1", name: "Ada" }))
      yield* Effect.repeatN(Effect.yieldNow(), 10)
      yield* Deferred.succeed(gate, undefined)
      assert.deepStrictEqual(yield* Fiber.join(short), { id: "1" })
      assert.deepStrictEqual(yield* Fiber.join(full), { id: "1", name: "Ada" })
      assert.deepStrictEqual(yield* Fiber.join(fullToo), { id: "1", name: "Ada" })
      assert.strictEqual(yield* Ref.get(calls), 2)
    }))

  it.scoped("the Redis-style store's keys carry the fingerprint, and no data", () =>
    Effect.gen(function*() {
      const store = keyed()
      const cache = yield* ResponseCache.make(store)
      yield* cache.lookup({
        scope: "u:1",
        partition: "t1",
        key: "GET /x",
        ttl,
        schema: Full,
        fetch: Effect.succeed({ id: "1", name: "Ada" })
      })
      const fingerprint = CachePolicy.schemaFingerprint(Full)
      assert.match(fingerprint, /^[0-9a-z]{14}$/)
      assert.deepStrictEqual(store.keys(), [`u:1|1|${CachePolicy.entryKey("t1", fingerprint, "GET /x")}`])
    }))
})

describe("schemaFingerprint", () => {
  it("is the same for schemas built alike, and differs when the decoded shape may differ", () => {
    const f = CachePolicy.schemaFingerprint
    assert.strictEqual(f(Schema.Struct({ id: Schema.String })), f(Schema.Struct({ id: Schema.String })))
    assert.strictEqual(f(Schema.Array(Credential)), f(all.credentials))
    const distinct = [
      Full,
      Short,
      Loose,
      Schema.Struct({ ID: Schema.String }),
      Schema.Struct({ id: Schema.Number }),
      Schema.Struct({ id: Schema.NumberFromString }),
      Schema.Struct({ id: Schema.String, name: Schema.String }).pipe(Schema.rename({ name: "fullName" })),
      Schema.Array(Short),
      Schema.String,
      Schema.String.pipe(Schema.maxLength(8)),
      Schema.String.pipe(Schema.maxLength(9)),
      Schema.Literal("a"),
      Schema.Literal("b"),
      // Effect keeps a transformation's functions in closures the AST does not show: told apart
      // by an identifier (or any annotation).
      Schema.transform(Schema.String, Schema.String, { decode: (s) => s.trim(), encode: (s) => s })
        .annotations({ identifier: "Trimmed" }),
      Schema.transform(Schema.String, Schema.String, { decode: (s) => s.toUpperCase(), encode: (s) => s })
        .annotations({ identifier: "Upper" }),
      Credential,
      Category
    ].map(f)
    assert.strictEqual(new Set(distinct).size, distinct.length)
  })

  it("is the same in another process running the same code", () => {
    const here = Object.fromEntries(
      Object.entries(all).map(([name, schema]) => [name, CachePolicy.schemaFingerprint(schema)])
    )
    const script = fileURLToPath(new URL("./fixtures/fingerprints.ts", import.meta.url))
    const there = JSON.parse(execFileSync(process.execPath, ["--import", "tsx", script], { encoding: "utf8" }))
    assert.deepStrictEqual(there, here)
  })
})
