import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Store, StoreRead } from "../ResponseCache.js"

interface Entry {
  readonly value: unknown
  readonly expiresAt: number
}

/**
 * An LRU map of decoded values. Generations come from one counter that never repeats, so a
 * scope whose generation marker was dropped can never see its old entries again (C10), and
 * invalidating a scope is one map write whatever the number of entries (C11).
 *
 * @internal
 */
export const make = (capacity: number): Store => {
  const entries = new Map<string, Entry>()
  const generations = new Map<string, string>()
  const maxScopes = Math.max(1024, capacity * 2)
  let counter = 0

  const nextGeneration = (scope: string): string => {
    const generation = (++counter).toString(36)
    generations.delete(scope)
    generations.set(scope, generation)
    if (generations.size > maxScopes) generations.delete(generations.keys().next().value!)
    return generation
  }

  const read = <A>(scope: string, key: string): Effect.Effect<StoreRead<A>> =>
    Effect.clockWith((clock) =>
      Effect.sync(() => {
        const generation = generations.get(scope) ?? nextGeneration(scope)
        const entryKey = `${scope}\u0000${generation}\u0000${key}`
        const entry = entries.get(entryKey)
        if (entry === undefined) return { generation, value: Option.none() }
        entries.delete(entryKey)
        if (entry.expiresAt <= clock.unsafeCurrentTimeMillis()) return { generation, value: Option.none() }
        entries.set(entryKey, entry)
        return { generation, value: Option.some(entry.value as A) }
      })
    )

  return {
    read,
    write: (entry) =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          const ttl = Duration.toMillis(entry.ttl)
          if (ttl <= 0 || generations.get(entry.scope) !== entry.generation) return
          const entryKey = `${entry.scope}\u0000${entry.generation}\u0000${entry.key}`
          entries.delete(entryKey)
          entries.set(entryKey, { value: entry.value, expiresAt: clock.unsafeCurrentTimeMillis() + ttl })
          while (entries.size > capacity) entries.delete(entries.keys().next().value!)
        })
      ),
    invalidate: (scope) =>
      Effect.sync(() => {
        nextGeneration(scope)
      }),
    size: Effect.sync(() => entries.size),
    errors: Effect.succeed(0)
  }
}
