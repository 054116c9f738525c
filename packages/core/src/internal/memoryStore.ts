import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as CachePolicy from "../CachePolicy.js"
import type { Store, StoreEntry, StoreRead } from "../ResponseCache.js"

/** One entry, also a link of the LRU list (least recently used at the head). */
interface Node {
  readonly key: string
  /** The map of its partition, to leave it on eviction. */
  readonly bucket: Map<string, Node>
  /** The partition and the map that holds its bucket, to drop the bucket when it empties. */
  readonly partition: string
  readonly partitions: Map<string, Map<string, Node>>
  /** The schema it was decoded with, and its fingerprint: served only to reads with the same. */
  readonly schema: Schema.Schema.All
  readonly fingerprint: string
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
 * How much bookkeeping the store holds, for tests: each count is bounded by the capacity,
 * whatever the churn of scopes and tokens.
 *
 * @internal
 */
export interface Census {
  readonly entries: number
  /** Scope records (current generation and partition map). */
  readonly scopes: number
  /** Partition maps reachable from scope records or entries. */
  readonly partitions: number
}

/** @internal */
export interface MemoryStore extends Store {
  readonly census: () => Census
}

/**
 * An LRU of decoded values. Invalidating a scope swaps in a fresh generation with an empty map,
 * one map write whatever the number of entries; the old entries can no longer be reached
 * and leave through the LRU. Generations come from one counter that never repeats, so a scope
 * whose marker was dropped can never see its old entries again. The hit path looks up two
 * maps with strings that are usually constants, compares the schema, and relinks one node.
 *
 * An entry is kept per (partition, request key); its schema is checked on a hit rather than
 * being part of the map key, so a hit still builds no string. Two schemas read on one path
 * replace each other's entry: correct, and rare in practice (one schema per path).
 *
 * @internal
 */
export const make = (capacity: number): MemoryStore => {
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

  /**
   * Takes an entry out of its bucket, and the bucket out of its partition map once it is empty:
   * otherwise every token that ever wrote would leave an empty map behind (one per session in a
   * rotating-token workload). This is a plain delete of a key that is gone for good, not the
   * delete-and-reinsert that degrades on large V8 maps (see `renew`); a partition map holds at
   * most `capacity` non-empty buckets.
   */
  const remove = (node: Node) => {
    unlink(node)
    if (node.bucket.get(node.key) !== node) return
    node.bucket.delete(node.key)
    if (node.bucket.size === 0 && node.partitions.get(node.partition) === node.bucket) {
      node.partitions.delete(node.partition)
    }
  }

  // Replacing a scope's record is a plain `set`: a delete and re-insert to keep the map in LRU
  // order degrades badly on large V8 maps (measured: 60 µs per invalidation at 100 000 scopes).
  // Scopes beyond the bound leave in the order they first appeared. The old record's partition
  // maps are then held only by its entries, and go with them.
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

  const readNow = <A>(
    scope: string,
    partition: string,
    key: string,
    schema: Schema.Schema.All,
    now: number
  ): StoreRead<A> => {
    const current = scopes.get(scope) ?? renew(scope)
    const node = current.partitions.get(partition)?.get(key)
    if (node === undefined) return answer(current.generation, Option.none()) as StoreRead<A>
    if (node.expiresAt <= now) {
      remove(node)
      return answer(current.generation, Option.none()) as StoreRead<A>
    }
    // Another schema's value is not this read's: a miss, whose write replaces the entry.
    if (node.schema !== schema && node.fingerprint !== CachePolicy.schemaFingerprint(schema)) {
      return answer(current.generation, Option.none()) as StoreRead<A>
    }
    if (node !== tail) {
      unlink(node)
      append(node)
    }
    return answer(current.generation, node.some) as StoreRead<A>
  }

  const writeNow = <A, I>(entry: StoreEntry<A, I>, now: number): void => {
    const ttl = Duration.toMillis(entry.ttl)
    const current = scopes.get(entry.scope)
    if (ttl <= 0 || current === undefined || current.generation !== entry.generation) return
    // The read's own strings where given: a key cut out of `entry.key` is another string
    // than the one reads look up with, and a map then compares them character by character.
    const [partition, requestKey] = entry.parts === undefined
      ? split(entry.key)
      : [entry.parts.partition, entry.parts.requestKey]
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
      partition,
      partitions: current.partitions,
      schema: entry.schema,
      fingerprint: CachePolicy.schemaFingerprint(entry.schema),
      some: Option.some(entry.value),
      expiresAt: now + ttl,
      prev: undefined,
      next: undefined
    }
    bucket.set(requestKey, node)
    append(node)
    while (size > capacity && head !== undefined) remove(head)
  }

  /**
   * A combined key taken apart, for the effectful methods: `CachePolicy.entryKey`'s partition and
   * request key (the fingerprint is checked against the schema instead). Other keys are split at
   * their first NUL, the same way for reads and writes.
   */
  const split = (key: string): readonly [string, string] => {
    const at = key.indexOf("\u0000")
    if (at === -1) return ["", key]
    const next = key.indexOf("\u0000", at + 1)
    return next === -1 ? [key.slice(0, at), key.slice(at + 1)] : [key.slice(0, at), key.slice(next + 1)]
  }

  const census = (): Census => {
    const partitions = new Set<Map<string, Map<string, Node>>>()
    let buckets = 0
    for (const entries of scopes.values()) {
      partitions.add(entries.partitions)
      buckets += entries.partitions.size
    }
    // Records dropped by an invalidation are still held by their entries until these leave.
    const counted = new Set<Map<string, Node>>()
    for (let node = head; node !== undefined; node = node.next) {
      if (partitions.has(node.partitions) || counted.has(node.bucket)) continue
      counted.add(node.bucket)
      buckets++
    }
    return { entries: size, scopes: scopes.size, partitions: buckets }
  }

  return {
    readNow,
    census,
    read: (scope, key, schema, parts) =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          const [partition, requestKey] = parts === undefined ? split(key) : [parts.partition, parts.requestKey]
          const read = readNow(scope, partition, requestKey, schema, clock.unsafeCurrentTimeMillis())
          return { generation: read.generation, value: read.value } as StoreRead<any>
        })
      ),
    write: (entry) => Effect.clockWith((clock) => Effect.sync(() => writeNow(entry, clock.unsafeCurrentTimeMillis()))),
    writeNow,
    invalidate: (scope) =>
      Effect.sync(() => {
        renew(scope)
      }),
    size: Effect.sync(() => size),
    errors: Effect.succeed(0)
  }
}
