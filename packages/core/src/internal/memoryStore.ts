import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Store, StoreRead } from "../ResponseCache.js"

/** One entry, also a link of the LRU list (least recently used at the head). */
interface Node {
  readonly key: string
  /** The map of its partition, to leave it on eviction. */
  readonly bucket: Map<string, Node>
  /** The value, wrapped once at write time so a hit allocates no Option. */
  readonly some: Option.Option<unknown>
  readonly expiresAt: number
  prev: Node | undefined
  next: Node | undefined
}

/** A scope's current generation and its entries, by partition (token hash) then request key. */
interface ScopeEntries {
  readonly generation: string
  readonly partitions: Map<string, Map<string, Node>>
}

/**
 * An LRU of decoded values. Invalidating a scope swaps in a fresh generation with an empty map,
 * one map write whatever the number of entries (C11); the old entries can no longer be reached
 * and leave through the LRU. Generations come from one counter that never repeats, so a scope
 * whose marker was dropped can never see its old entries again (C10). The hit path looks up two
 * maps with strings that are usually constants, and relinks one node.
 *
 * @internal
 */
export const make = (capacity: number): Store => {
  const scopes = new Map<string, ScopeEntries>()
  const maxScopes = Math.max(1024, capacity * 2)
  let head: Node | undefined
  let tail: Node | undefined
  let size = 0
  let counter = 0

  const unlink = (node: Node) => {
    if (node.prev === undefined) head = node.next
    else node.prev.next = node.next
    if (node.next === undefined) tail = node.prev
    else node.next.prev = node.prev
    node.prev = node.next = undefined
    size--
  }

  const append = (node: Node) => {
    node.prev = tail
    node.next = undefined
    if (tail === undefined) head = node
    else tail.next = node
    tail = node
    size++
  }

  // Replacing a scope's record is a plain `set`: a delete and re-insert to keep the map in LRU
  // order degrades badly on large V8 maps (measured: 60 µs per invalidation at 100 000 scopes).
  // Scopes beyond the bound leave in the order they first appeared.
  const renew = (scope: string): ScopeEntries => {
    const fresh: ScopeEntries = { generation: (++counter).toString(36), partitions: new Map() }
    scopes.set(scope, fresh)
    if (scopes.size > maxScopes) scopes.delete(scopes.keys().next().value!)
    return fresh
  }

  // One result object, reused: the cache reads it at once, and a hit then allocates nothing here.
  const result: { generation: string; value: Option.Option<unknown> } = { generation: "", value: Option.none() }
  const answer = (generation: string, value: Option.Option<unknown>) => {
    result.generation = generation
    result.value = value
    return result
  }

  const readNow = <A>(scope: string, partition: string, key: string, now: number): StoreRead<A> => {
    const current = scopes.get(scope) ?? renew(scope)
    const bucket = current.partitions.get(partition)
    const node = bucket?.get(key)
    if (node === undefined) return answer(current.generation, Option.none()) as StoreRead<A>
    if (node.expiresAt <= now) {
      unlink(node)
      bucket!.delete(key)
      return answer(current.generation, Option.none()) as StoreRead<A>
    }
    if (node !== tail) {
      unlink(node)
      append(node)
    }
    return answer(current.generation, node.some) as StoreRead<A>
  }

  /** A combined key (partition, NUL, request key) taken apart, for the effectful `read`. */
  const split = (key: string): readonly [string, string] => {
    const at = key.indexOf("\u0000")
    return at === -1 ? ["", key] : [key.slice(0, at), key.slice(at + 1)]
  }

  return {
    readNow,
    read: (scope, key) =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          const [partition, requestKey] = split(key)
          const read = readNow(scope, partition, requestKey, clock.unsafeCurrentTimeMillis())
          return { generation: read.generation, value: read.value } as StoreRead<any>
        })
      ),
    write: (entry) =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          const ttl = Duration.toMillis(entry.ttl)
          const current = scopes.get(entry.scope)
          if (ttl <= 0 || current === undefined || current.generation !== entry.generation) return
          const [partition, requestKey] = entry.partition !== undefined && entry.requestKey !== undefined
            ? [entry.partition, entry.requestKey]
            : split(entry.key)
          let bucket = current.partitions.get(partition)
          if (bucket === undefined) {
            bucket = new Map()
            current.partitions.set(partition, bucket)
          }
          const previous = bucket.get(requestKey)
          if (previous !== undefined) unlink(previous)
          const node: Node = {
            key: requestKey,
            bucket,
            some: Option.some(entry.value),
            expiresAt: clock.unsafeCurrentTimeMillis() + ttl,
            prev: undefined,
            next: undefined
          }
          bucket.set(requestKey, node)
          append(node)
          while (size > capacity && head !== undefined) {
            const evicted = head
            unlink(evicted)
            if (evicted.bucket.get(evicted.key) === evicted) evicted.bucket.delete(evicted.key)
          }
        })
      ),
    invalidate: (scope) =>
      Effect.sync(() => {
        renew(scope)
      }),
    size: Effect.sync(() => size),
    errors: Effect.succeed(0)
  }
}
