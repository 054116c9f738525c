import { CachePolicy, ResponseCache } from "@tink-effect/core"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"

/** One remembered read, also a link of the LRU list (least recently used at the head). */
interface Node {
  readonly record: ScopeRecord
  /** Its map within the record (one per partition), and its key there: the request key. */
  readonly bucket: Map<string, Node>
  readonly partition: string
  readonly key: string
  /** The schema it was read or written with when known, and its fingerprint: served only to the same. */
  readonly schema: Schema.Schema.All | undefined
  readonly fingerprint: string
  /** The answer, built once: a hit allocates nothing. */
  readonly read: ResponseCache.StoreRead<unknown>
  readonly expiresAt: number
  prev: Node | undefined
  next: Node | undefined
}

/**
 * A scope's generation as Redis last told this connection, and the reads remembered under it, by
 * partition then request key (as the memory store keeps them): a read answered by `getNow`
 * looks them up with its own strings and builds no key.
 */
interface ScopeRecord {
  readonly scope: string
  readonly generation: string
  readonly partitions: Map<string, Map<string, Node>>
}

/**
 * Where a read is remembered: `CachePolicy.entryKey`'s parts. A combined key is taken apart by
 * `slotOf`; the store passes the read's own strings where it has them, since a key cut out of a
 * longer string is another string than the one a hit looks up with, and a map then compares
 * the two character by character.
 *
 * Not exported by the package (src/internal).
 */
export interface Slot {
  readonly partition: string
  readonly requestKey: string
  /** The schema's fingerprint; `""` for a key without one (the cache's guard key). */
  readonly fingerprint: string
  readonly schema?: Schema.Schema.All | undefined
}

/**
 * A combined key (`partition NUL fingerprint NUL request key`) taken apart. Other keys (the
 * cache's guard key) are a request key of partition `""` without fingerprint; a key with a single
 * NUL is split at it, as the memory store does.
 *
 * Not exported by the package (src/internal).
 */
export const slotOf = (key: string, schema?: Schema.Schema.All, parts?: ResponseCache.KeyParts): Slot => {
  // The read's own strings where the cache gives them (see `Slot`).
  if (parts !== undefined && schema !== undefined) {
    return { ...parts, fingerprint: CachePolicy.schemaFingerprint(schema), schema }
  }
  const at = key.indexOf("\u0000")
  const next = at === -1 ? -1 : key.indexOf("\u0000", at + 1)
  const [partition, fingerprint, requestKey] = at === -1
    ? ["", "", key]
    : next === -1
    ? [key.slice(0, at), "", key.slice(at + 1)]
    : [key.slice(0, at), key.slice(at + 1, next), key.slice(next + 1)]
  // Filled by a read that names its schema: its fingerprint, so `getNow` with the schema finds it.
  return schema === undefined
    ? { partition, requestKey, fingerprint }
    : { partition, requestKey, fingerprint: CachePolicy.schemaFingerprint(schema), schema }
}

/**
 * Taken before a command whose reply may fill the near cache: the fill is kept only if nothing
 * that could make it stale happened meanwhile (see `NearCache.begin`).
 *
 * Not exported by the package (src/internal); left public in its declarations so the benches (B5n, B7)
 * type-check against it.
 */
export interface Ticket {
  readonly scope: string
  readonly era: number
  readonly seq: number
}

/**
 * What the near cache did, for tests and benchmarks that wait on it instead of sleeping.
 *
 * Not exported by the package (src/internal); left public in its declarations so the benches (B5n, B7)
 * type-check against it.
 */
export type Event =
  & { readonly cache: NearCache; readonly namespace: string }
  & (
    | { readonly _tag: "Dropped"; readonly scope: string; readonly by: "push" | "self" }
    | { readonly _tag: "Cleared"; readonly by: ClearedBy }
    | { readonly _tag: "Discarded"; readonly scope: string }
  )

/**
 * Listeners of every near cache in the process (empty in production: emitting is then one size
 * check). Internal: a seam for the tests and the B7 benchmark.
 *
 * Not exported by the package (src/internal); left public in its declarations so the benches (B5n, B7)
 * type-check against it.
 */
export const listeners = new Set<(event: Event) => void>()

/**
 * Why the whole near cache was cleared: the connection (a node's, on a cluster) failed or closed,
 * a flush, a change of data set (epoch), a silence, or a change of the cluster's topology.
 *
 * Not exported by the package (src/internal); left public in its declarations so the benches (B5n, B7)
 * type-check against it.
 */
export type ClearedBy = "connection" | "flush" | "epoch" | "silence" | "topology"

/**
 * Redis Cluster: called each time a full round of probes lets a near cache serve (see `heardAll`);
 * a seam for the tests, empty in production.
 *
 * Not exported by the package (src/internal).
 */
export const heardListeners = new Set<(cache: NearCache) => void>()

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/** How long a remembered miss is trusted: entries other instances write are not pushed to us. */
const missTtlMs = 1_000

/**
 * The near cache (L1) of a Redis store: reads remembered in process, served with no I/O, kept
 * fresh by Redis pushing an invalidation when another instance bumps a scope's generation key
 * (`CLIENT TRACKING`: the read script declares that key, and Redis tracks the keys a script
 * declares for the connection that ran it; keys a script only derives, such as the entry keys,
 * are not tracked, checked on Redis 7.0). So:
 * - only the generation decides what is stale; entries under one generation are all valid;
 * - a remembered miss (an entry absent under the generation) is trusted for one second only,
 *   since another instance writing that entry sends no push; a stale miss costs a fetch, never
 *   a stale value;
 * - anything that may have cost a push (the connection dropping or coming back, a flush, a
 *   change of data set, a connection silent for too long) clears the whole cache;
 * - a fill is kept only if, between the command being sent and its reply being used, its scope
 *   was not dropped and the cache was not cleared (`begin`, then `fill*`).
 *
 * Bounded like the memory store: at most `capacity` reads, least recently used evicted; values
 * are deeply frozen when remembered.
 *
 * Not exported by the package (src/internal); left public in its declarations so the benches (B5n, B7)
 * type-check against it.
 */
export interface NearCache {
  /**
   * The remembered read of a combined key (`CachePolicy.entryKey`), if it can be served now (the
   * connection heard from recently).
   */
  readonly get: (scope: string, key: string) => ResponseCache.StoreRead<unknown> | undefined
  /**
   * The same, for a read given by its parts (the cache's `readNow`): served only to a read with
   * the schema (or the fingerprint) it was remembered with, and building no string.
   */
  readonly getNow: (
    scope: string,
    partition: string,
    requestKey: string,
    schema: Schema.Schema.All
  ) => ResponseCache.StoreRead<unknown> | undefined
  /** Before sending a command whose reply will be remembered. */
  readonly begin: (scope: string) => Ticket
  /**
   * A read reply (tracked by Redis): creates the scope's record if needed. The key is a combined
   * key or its parts; one read is remembered per partition and request key, whatever its schema.
   */
  readonly fillRead: (
    ticket: Ticket,
    key: string | Slot,
    generation: string,
    value: Option.Option<unknown>,
    ttlMs: number | undefined
  ) => void
  /**
   * A write Redis accepted under `generation`: remembered only into a record of that generation,
   * which a tracked read of this connection created (so Redis will push its bump to us).
   */
  readonly fillWrite: (ticket: Ticket, key: string | Slot, generation: string, value: unknown, ttlMs: number) => void
  /** Forgets a scope (a push, or this instance's own invalidation). */
  readonly drop: (scope: string, by: "push" | "self") => void
  readonly clear: (by: ClearedBy) => void
  /** An invalidation pushed by Redis: a key of this namespace, or `null` for a flush. */
  readonly pushed: (key: string | null) => void
  /** The connection answered a probe with this epoch (`<epoch>:`): the cache may serve. */
  readonly heard: (epoch: string) => void
  /**
   * Redis Cluster: every primary answered a probe sent at `at` (ms, this cache's clock), with
   * these epochs, and the cluster's topology reads `topology`. A change of either since the last
   * round clears everything (a failover, a slot moved, a node added or removed: pushes of the
   * scopes that moved come from a connection that never tracked them). Fills are kept only under
   * an epoch of the last round.
   */
  readonly heardAll: (epochs: ReadonlyArray<string>, topology: string, at: number) => void
  /**
   * Redis Cluster: a round of probes failed (a primary slow, paused by a failover, or gone):
   * stop serving, keeping what is remembered, until a round sent from now on answers (which
   * clears everything if the epochs or the topology changed meanwhile). Pushes received meanwhile
   * still drop their scopes; a lost connection clears everything through `lost`.
   */
  readonly suspend: () => void
  /** The connection is gone or cannot be trusted: stop serving until the next `heard`. */
  readonly lost: (by: ClearedBy) => void
  readonly size: () => number
  /** For tests: remembered reads and scope records, both bounded by the capacity. */
  readonly census: () => { readonly entries: number; readonly scopes: number }
}

/** Drops remembered so fills in flight can be checked against them; older ones fold into `floor`. */
const dropMemory = 4096

/** Not exported by the package; untagged for the benches (see `NearCache`). */
export const make = (options: {
  readonly namespace: string
  readonly capacity: number
  /** How long the cache keeps serving without hearing from the connection. */
  readonly silenceMs: number
  readonly now?: () => number
  /**
   * Redis Cluster: one epoch per primary, learnt by `heardAll` (a generation of an epoch not among
   * them is not remembered); `heard` is then unused.
   */
  readonly cluster?: boolean
}): NearCache => {
  const { capacity, namespace, silenceMs } = options
  const now = options.now ?? Date.now
  const genPrefix = `${namespace}:gen:{`
  const records = new Map<string, ScopeRecord>()
  let head: Node | undefined
  let tail: Node | undefined
  let count = 0
  /** Bumped by every clear: a fill from before it is never kept. */
  let era = 0
  /** Bumped by every drop; `dropped` holds the last seq of recently dropped scopes. */
  let seq = 0
  let floor = 0
  const dropped = new Map<string, number>()
  let lastHeard = Number.NEGATIVE_INFINITY
  let epoch: string | undefined
  const cluster = options.cluster === true
  /** Cluster: the epochs and the topology of the last full round of probes. */
  let epochs = new Set<string>()
  let topology: string | undefined
  /** When the cache was last lost: a round of probes sent before then proves nothing. */
  let lostAt = Number.NEGATIVE_INFINITY

  const emit = (event: DistributiveOmit<Event, "cache" | "namespace">) => {
    if (listeners.size === 0) return
    const full = { ...event, cache, namespace } as Event
    for (const listener of listeners) listener(full)
  }

  const unlink = (node: Node) => {
    if (node.prev === undefined) head = node.next
    else node.prev.next = node.next
    if (node.next === undefined) tail = node.prev
    else node.next.prev = node.prev
    node.prev = node.next = undefined
    count--
  }

  const append = (node: Node) => {
    node.prev = tail
    node.next = undefined
    if (tail === undefined) head = node
    else tail.next = node
    tail = node
    count++
  }

  /**
   * Takes a node out, its partition's map once empty, and its record once that is empty too:
   * records and maps are bounded by the nodes.
   */
  const remove = (node: Node) => {
    unlink(node)
    const record = node.record
    const bucket = node.bucket
    if (bucket.get(node.key) === node) bucket.delete(node.key)
    if (bucket.size === 0 && record.partitions.get(node.partition) === bucket) record.partitions.delete(node.partition)
    if (record.partitions.size === 0 && records.get(record.scope) === record) records.delete(record.scope)
  }

  const forget = (scope: string) => {
    const record = records.get(scope)
    if (record === undefined) return
    records.delete(scope)
    for (const bucket of record.partitions.values()) {
      for (const node of bucket.values()) unlink(node)
    }
    record.partitions.clear()
  }

  const wipe = () => {
    era++
    records.clear()
    head = tail = undefined
    count = 0
    dropped.clear()
    floor = seq
  }

  const valid = (ticket: Ticket) => ticket.era === era && (dropped.get(ticket.scope) ?? floor) <= ticket.seq

  const put = (record: ScopeRecord, slot: Slot, value: Option.Option<unknown>, expiresAt: number) => {
    let bucket = record.partitions.get(slot.partition)
    if (bucket === undefined) {
      bucket = new Map()
      record.partitions.set(slot.partition, bucket)
    }
    // One read per partition and request key: another schema's replaces it (one schema per path).
    const previous = bucket.get(slot.requestKey)
    if (previous !== undefined) unlink(previous)
    const node: Node = {
      record,
      bucket,
      partition: slot.partition,
      key: slot.requestKey,
      schema: slot.schema,
      fingerprint: slot.fingerprint,
      read: { generation: record.generation, value: Option.map(value, ResponseCache.freezeDeep) },
      expiresAt,
      prev: undefined,
      next: undefined
    }
    bucket.set(slot.requestKey, node)
    append(node)
    while (count > capacity && head !== undefined) remove(head)
  }

  /** The remembered read, if the connection was heard from recently and it has not expired. */
  const serve = (node: Node): ResponseCache.StoreRead<unknown> | undefined => {
    const at = now()
    // Silent for too long: pushes may be lost on a connection that died without a word.
    if (at - lastHeard > silenceMs) return undefined
    if (node.expiresAt <= at) {
      remove(node)
      return undefined
    }
    if (node !== tail) {
      unlink(node)
      append(node)
    }
    return node.read
  }

  const noteEpoch = (generation: string): boolean => {
    const prefix = generation.slice(0, 17)
    if (cluster) return epochs.has(prefix)
    if (epoch === prefix) return true
    if (epoch !== undefined) {
      wipe()
      emit({ _tag: "Cleared", by: "epoch" })
    }
    epoch = prefix
    return false
  }

  const cache: NearCache = {
    get: (scope, key) => {
      const record = records.get(scope)
      if (record === undefined) return undefined
      const slot = slotOf(key)
      const node = record.partitions.get(slot.partition)?.get(slot.requestKey)
      // A key without a fingerprint (the guard's) is looked up by its place alone.
      if (node === undefined || (slot.fingerprint !== "" && node.fingerprint !== slot.fingerprint)) return undefined
      return serve(node)
    },
    getNow: (scope, partition, requestKey, schema) => {
      const node = records.get(scope)?.partitions.get(partition)?.get(requestKey)
      if (node === undefined) return undefined
      if (node.schema !== schema && node.fingerprint !== CachePolicy.schemaFingerprint(schema)) return undefined
      return serve(node)
    },
    begin: (scope) => ({ scope, era, seq }),
    fillRead: (ticket, key, generation, value, ttlMs) => {
      if (!valid(ticket)) {
        emit({ _tag: "Discarded", scope: ticket.scope })
        return
      }
      // A generation of another data set: nothing remembered before is trusted (this one is; on a
      // cluster, only once a round of probes has named its epoch).
      if (!noteEpoch(generation) && cluster) {
        emit({ _tag: "Discarded", scope: ticket.scope })
        return
      }
      let record = records.get(ticket.scope)
      if (record === undefined || record.generation !== generation) {
        forget(ticket.scope)
        record = { scope: ticket.scope, generation, partitions: new Map() }
        records.set(ticket.scope, record)
      }
      const life = Option.isSome(value) ? (ttlMs ?? 0) : missTtlMs
      if (life <= 0) {
        if (record.partitions.size === 0) records.delete(ticket.scope)
        return
      }
      put(record, typeof key === "string" ? slotOf(key) : key, value, now() + life)
    },
    fillWrite: (ticket, key, generation, value, ttlMs) => {
      const record = records.get(ticket.scope)
      if (!valid(ticket) || record === undefined || record.generation !== generation || ttlMs <= 0) return
      put(record, typeof key === "string" ? slotOf(key) : key, Option.some(value), now() + ttlMs)
    },
    drop: (scope, by) => {
      seq++
      dropped.delete(scope)
      dropped.set(scope, seq)
      if (dropped.size > dropMemory) {
        const [oldest, at] = dropped.entries().next().value!
        dropped.delete(oldest)
        floor = at
      }
      forget(scope)
      emit({ _tag: "Dropped", scope, by })
    },
    clear: (by) => {
      wipe()
      emit({ _tag: "Cleared", by })
    },
    pushed: (key) => {
      if (key === null) return cache.lost("flush")
      // Only generation keys are tracked (the only keys the scripts declare).
      if (key.startsWith(genPrefix) && key.endsWith("}")) cache.drop(key.slice(genPrefix.length, -1), "push")
    },
    heard: (prefix) => {
      noteEpoch(prefix)
      lastHeard = now()
    },
    heardAll: (heard, shape, at) => {
      const named = new Set(heard)
      const same = topology === shape && named.size === epochs.size && heard.every((e) => epochs.has(e))
      if (!same) {
        const first = topology === undefined
        epochs = named
        topology = shape
        // Also on the first round: a fill kept before it may come from a topology never checked.
        wipe()
        if (!first) emit({ _tag: "Cleared", by: "topology" })
      }
      if (at > lostAt) {
        lastHeard = Math.max(lastHeard, at)
        for (const listener of heardListeners) listener(cache)
      }
    },
    suspend: () => {
      lastHeard = Number.NEGATIVE_INFINITY
      lostAt = now()
    },
    lost: (by) => {
      lastHeard = Number.NEGATIVE_INFINITY
      lostAt = now()
      cache.clear(by)
    },
    size: () => count,
    census: () => ({ entries: count, scopes: records.size })
  }
  return cache
}
