/**
 * Cached values cannot be changed by callers (issue 10.12), whichever the store: what a read gets
 * is deeply frozen, so a caller that mutates it fails at once instead of changing what later
 * hits return. Effect data types inside still hash and compare.
 */
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache } from "@tink-effect/core"
import { Duration, Effect, Equal, Hash, Option, Ref, Schema } from "effect"
import { Credential } from "./fixtures/schemas.js"
import { flaky, keyed } from "./utils/stores.js"

const ttl = Duration.seconds(30)
const Credentials = Schema.Array(Credential)
const List = Schema.Struct({ credentials: Schema.Array(Credential), tags: Schema.Array(Schema.String) })
type List = typeof List.Type

const fresh = (): List => ({
  credentials: [new Credential({ id: "c1", status: "CREATED" }), new Credential({ id: "c2", status: "UPDATED" })],
  tags: ["a"]
})

const stores: ReadonlyArray<readonly [string, () => ResponseCache.Store]> = [
  ["memory store", () => ResponseCache.makeMemoryStore({ capacity: 100 })],
  ["a store that encodes and decodes (as Redis)", keyed]
]

/** Every way a caller could change a value it got. */
const tamper = (value: List) => {
  const attempts: Array<() => void> = [
    () => (value.tags as Array<string>).push("b"),
    () => (value.credentials as Array<Credential>).splice(0, 1),
    () => ((value as { tags: ReadonlyArray<string> }).tags = []),
    () => ((value.credentials[0] as { status: string }).status = "DELETED"),
    () => delete (value.credentials[1] as { id?: string }).id
  ]
  for (const attempt of attempts) assert.throws(attempt, TypeError)
}

describe("cached values are frozen (10.12)", () => {
  for (const [name, makeStore] of stores) {
    it.scoped(`${name}: no caller can change what a later hit returns`, () =>
      Effect.gen(function*() {
        const cache = yield* ResponseCache.make(makeStore())
        const calls = yield* Ref.make(0)
        const read = cache.lookup({
          scope: "u:1",
          key: "GET /list",
          ttl,
          schema: List,
          fetch: Effect.as(Ref.update(calls, (n) => n + 1), fresh())
        })
        tamper(yield* read) // the miss
        tamper(yield* read) // a hit
        const later = yield* read
        assert.deepStrictEqual(later.tags, ["a"])
        assert.deepStrictEqual(later.credentials.map((c) => [c.id, c.status]), [["c1", "CREATED"], ["c2", "UPDATED"]])
        assert.strictEqual(yield* Ref.get(calls), 1)
      }))
  }

  it.scoped("values from reads without a generation and bypassed reads are frozen too", () =>
    Effect.gen(function*() {
      const store = flaky(ResponseCache.makeMemoryStore({ capacity: 100 }))
      store.failing = true
      const cache = yield* ResponseCache.make(store)
      const read = cache.lookup({ scope: "u:1", key: "GET /list", ttl, schema: List, fetch: Effect.sync(fresh) })
      tamper(yield* read)
      tamper(yield* ResponseCache.bypass(read))
    }))

  it.scoped("Effect data inside still hashes and compares, and other objects are left alone", () =>
    Effect.gen(function*() {
      const cache = yield* ResponseCache.make(ResponseCache.makeMemoryStore({ capacity: 100 }))
      const Holder = Schema.Struct({ when: Schema.DateFromSelf, maybe: Schema.OptionFromSelf(Credentials) })
      const when = new Date(0)
      const value = yield* cache.lookup({
        scope: "u:1",
        key: "GET /holder",
        ttl,
        schema: Holder,
        fetch: Effect.succeed({ when, maybe: Option.some([new Credential({ id: "c1", status: "CREATED" })]) })
      })
      assert.isTrue(Object.isFrozen(value))
      const credential = Option.getOrThrow(value.maybe)[0]!
      assert.isTrue(Object.isFrozen(credential))
      assert.isTrue(Equal.equals(credential, new Credential({ id: "c1", status: "CREATED" })))
      assert.strictEqual(Hash.hash(credential), Hash.hash(new Credential({ id: "c1", status: "CREATED" })))
      assert.isNumber(Hash.hash(value.maybe))
      // A Date is not plain data: freezing it would not stop setTime, and it is left as it was.
      assert.isFalse(Object.isFrozen(value.when))
    }))
})
