/**
 * Test stores: a shared memory store seen through wrappers that model one instance each, whose
 * reads can be made to fail (a Redis error or timeout: no generation), and a store that keys
 * entries by the key string alone and keeps encoded JSON, the way the Redis store does.
 */
import { ResponseCache } from "@tink-effect/core"
import { Duration, Effect, Option, Schema } from "effect"

/** One instance's view of a shared store. While `failing`, its reads answer with no generation. */
export interface FlakyStore extends ResponseCache.Store {
  failing: boolean
  readonly counts: { reads: number; failedReads: number; writes: number }
}

/** Wraps a store for one instance; the wrapper has no synchronous read, so every read can fail. */
export const flaky = (shared: ResponseCache.Store): FlakyStore => {
  const counts = { reads: 0, failedReads: 0, writes: 0 }
  const store: FlakyStore = {
    failing: false,
    counts,
    read: (scope, key, schema) =>
      Effect.suspend(() => {
        counts.reads++
        if (!store.failing) return shared.read(scope, key, schema)
        counts.failedReads++
        return Effect.succeed({ generation: undefined, value: Option.none() })
      }),
    write: (entry) =>
      Effect.suspend(() => {
        counts.writes++
        return shared.write(entry)
      }),
    invalidate: shared.invalidate,
    size: shared.size,
    errors: Effect.sync(() => counts.failedReads)
  }
  return store
}

/**
 * A store like the Redis one: entries under `scope`, `generation` and the key string, values
 * schema-encoded to JSON on write and decoded per read. Nothing but the key tells entries apart.
 */
export const keyed = (): ResponseCache.Store & { readonly keys: () => ReadonlyArray<string> } => {
  const generations = new Map<string, number>()
  const entries = new Map<string, string>()
  const generationOf = (scope: string) => {
    let generation = generations.get(scope)
    if (generation === undefined) {
      generation = 1
      generations.set(scope, generation)
    }
    return String(generation)
  }
  return {
    keys: () => [...entries.keys()],
    read: (scope, key, schema) =>
      Effect.sync(() => {
        const generation = generationOf(scope)
        const raw = entries.get(`${scope}|${generation}|${key}`)
        if (raw === undefined) return { generation, value: Option.none() }
        const decoded = Schema.decodeUnknownOption(schema)(JSON.parse(raw))
        return { generation, value: decoded }
      }),
    write: (entry) =>
      Effect.sync(() => {
        if (generationOf(entry.scope) !== entry.generation || Duration.toMillis(entry.ttl) <= 0) return
        const encoded = Schema.encodeSync(entry.schema)(entry.value)
        entries.set(`${entry.scope}|${entry.generation}|${entry.key}`, JSON.stringify(encoded))
      }),
    invalidate: (scope) =>
      Effect.sync(() => {
        generations.set(scope, Number(generationOf(scope)) + 1)
      }),
    size: Effect.sync(() => entries.size),
    errors: Effect.succeed(0)
  }
}
