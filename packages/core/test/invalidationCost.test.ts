import { assert, describe, it } from "@effect/vitest"
import { ResponseCache } from "@tink-effect/core"
import { Duration, Effect, Schema } from "effect"

/**
 * C11 counted, not timed: the number of map operations one invalidation performs must not
 * depend on how many entries are cached. Map calls and iteration steps are counted around the call.
 */
const countMapOperations = (run: () => void): number => {
  const methods = ["get", "set", "delete", "has", "keys", "values", "entries", "forEach", Symbol.iterator] as const
  const originals = methods.map((name) => [name, Map.prototype[name as keyof Map<unknown, unknown>]] as const)
  let count = 0
  for (const [name, original] of originals) {
    ;(Map.prototype as any)[name] = function(this: Map<unknown, unknown>, ...args: Array<unknown>) {
      count++
      if (name === "forEach") {
        const callback = args[0] as (...a: Array<unknown>) => void
        args[0] = (...a: Array<unknown>) => {
          count++
          callback(...a)
        }
      }
      const result = (original as (...a: Array<unknown>) => unknown).apply(this, args)
      if (typeof name === "string" && !["keys", "values", "entries"].includes(name)) return result
      if (name === "forEach") return result
      // Every step of an iteration is work too: a scan would show up here.
      const iterator = result as IterableIterator<unknown>
      const next = iterator.next.bind(iterator)
      return Object.assign(iterator, {
        next: () => {
          count++
          return next()
        }
      })
    }
  }
  try {
    run()
  } finally {
    for (const [name, original] of originals) (Map.prototype as any)[name] = original
  }
  return count
}

const invalidationWork = (entries: number) =>
  Effect.gen(function*() {
    const cache = yield* ResponseCache.ResponseCache
    for (let i = 0; i < entries; i++) {
      yield* cache.lookup({
        scope: `u:other-${i % 100}`,
        key: `GET /api/v1/credentials/${i}`,
        ttl: Duration.seconds(30),
        schema: Schema.Number,
        fetch: Effect.succeed(i)
      })
    }
    yield* cache.lookup({
      scope: "u:target",
      key: "GET /api/v1/credentials/list",
      ttl: Duration.seconds(30),
      schema: Schema.Number,
      fetch: Effect.succeed(1)
    })
    const size = (yield* cache.stats).size
    // Steady state: the first invalidation in a process also registers its metric.
    yield* cache.invalidate("u:warm-up")
    const operations = countMapOperations(() => Effect.runSync(cache.invalidate("u:target")))
    return { size, operations }
  }).pipe(Effect.provide(ResponseCache.layerMemory({ capacity: 100_000 })))

describe("invalidation cost (C11)", () => {
  it.effect("is the same with 10 and with 20 000 entries cached", () =>
    Effect.gen(function*() {
      const small = yield* invalidationWork(10)
      const large = yield* invalidationWork(20_000)
      assert.strictEqual(small.size, 11)
      assert.strictEqual(large.size, 20_001)
      assert.isAbove(small.operations, 0)
      assert.strictEqual(large.operations, small.operations)
    }))
})
