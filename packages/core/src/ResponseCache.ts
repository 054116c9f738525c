/**
 * The response cache: per-scope entries, generation-based invalidation and single-flight reads.
 *
 * Why generations: invalidating a scope bumps its generation, which costs the same however many
 * entries the scope holds, and also makes a read that was in flight during the bump harmless: it
 * was keyed under the old generation, so it neither stores into nor is joined by readers of the
 * new one.
 *
 * Values that come out of the cache are deeply frozen (arrays, plain objects, `Data`/`Schema.Class`
 * instances and `Option`s in them), whichever the store: one caller cannot change what another
 * one, or a later hit, gets.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as Hash from "effect/Hash"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as CachePolicy from "./CachePolicy.js"
import * as InFiber from "./internal/inFiber.js"
import * as MemoryStore from "./internal/memoryStore.js"
import * as SingleFlight from "./internal/singleFlight.js"
import * as Tracing from "./internal/tracing.js"
import * as TinkMetrics from "./TinkMetrics.js"

/**
 * What a store returns for one read: the scope's generation and the entry under it, if any.
 * `generation` is undefined when the store cannot be trusted right now (Redis down or slow): the
 * read is a miss and its result is not stored.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreRead<A> {
  readonly generation: string | undefined
  readonly value: Option.Option<A>
}

/**
 * The partition and request key an entry's key is built from (`CachePolicy.entryKey`).
 *
 * @since 0.2.0
 * @category models
 */
export interface KeyParts {
  readonly partition: string
  readonly requestKey: string
}

/**
 * What a store writes: a value, the generation its read started under, and how long it lives.
 *
 * @since 0.2.0
 * @category models
 */
export interface StoreEntry<A, I> {
  readonly scope: string
  readonly generation: string
  /** The entry's key within the scope: partition, schema fingerprint and request key together. */
  readonly key: string
  /**
   * The partition and request key `key` was built from, for a store that keeps them apart (the
   * memory store): the strings reads look up with, so a hit compares them by identity.
   */
  readonly parts?: KeyParts | undefined
  readonly value: A
  readonly schema: Schema.Schema<A, I>
  readonly ttl: Duration.Duration
}

/**
 * Where entries live. The memory store keeps decoded values; a shared store (Redis) uses the
 * schema to encode and decode. Every method is infallible: a failing store reads as a miss.
 * Keys are built by `CachePolicy.entryKey` and include the schema's fingerprint, so a store that
 * keys entries by `key` serves a value only to reads with the same schema.
 *
 * @since 0.1.0
 * @category models
 */
export interface Store {
  /**
   * `parts` are the partition and request key `key` was built from (as in `StoreEntry`), for a
   * store that keeps them apart: the strings later reads look up with.
   */
  readonly read: <A, I>(
    scope: string,
    key: string,
    schema: Schema.Schema<A, I>,
    parts?: KeyParts
  ) => Effect.Effect<StoreRead<A>>
  /**
   * The same read, answered synchronously, for stores that live in memory: a cache hit then
   * takes no effect step of its own, which is most of what a hit costs. The result may be a
   * reused object, valid until the next call. `key` is the request key; an entry written with
   * another schema is not returned. `undefined` when the store cannot answer without I/O (a near
   * cache that does not hold the read): the cache then asks `read`.
   */
  readonly readNow?: <A>(
    scope: string,
    partition: string,
    key: string,
    schema: Schema.Schema.All,
    nowMillis: number
  ) => StoreRead<A> | undefined
  /** Stores the value only if `generation` is still the scope's current one. */
  readonly write: <A, I>(entry: StoreEntry<A, I>) => Effect.Effect<void>
  /**
   * The same write, done synchronously at `nowMillis`, for stores that live in memory: the read
   * that fetched the value then stores it in the step that gets it.
   *
   * @since 0.2.0
   */
  readonly writeNow?: <A, I>(entry: StoreEntry<A, I>, nowMillis: number) => void
  /** Moves the scope to a new generation, making every entry of it unreachable. */
  readonly invalidate: (scope: string) => Effect.Effect<void>
  readonly size: Effect.Effect<number>
  /** Store failures so far (timeouts, connection errors), each of which was served as a miss. */
  readonly errors: Effect.Effect<number>
}

/**
 * One cached read: whose data it is, which request, for how long, and how to fetch it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Lookup<A, I, E> {
  readonly scope: string
  /**
   * Entries are kept per partition within a scope (the session's token hash): only a caller
   * with the same credentials reads or joins what was fetched. Invalidation covers the scope.
   */
  readonly partition?: string | undefined
  /**
   * A second scope the entry depends on: its generation is part of the partition, so
   * invalidating either scope makes the entry unreachable. Reads of sessions without a user id
   * name here the scope every mutation invalidates, since nothing says whose token they hold.
   */
  readonly guard?: string | undefined
  /**
   * Whether a fetched value may be kept. One that is not (e.g. an answer nothing ties to the
   * session's user) is still returned, and shared with the reads that joined it, but not stored.
   */
  readonly storable?: ((value: A) => boolean) | undefined
  readonly key: string
  /**
   * The kind of data read (`credentials`, `user`), the `resource` label of the cache counters in
   * `TinkMetrics`, so hit rates show per resource. Never an id; `other` when absent.
   */
  readonly resource?: string | undefined
  readonly ttl: Duration.Duration
  readonly schema: Schema.Schema<A, I>
  /**
   * Runs only for a read that goes to the source: a miss, or a read with caching off. A hit or a
   * read that joins one in flight does not run it, so whatever it records (e.g. a span) marks
   * the reads that reached Tink. The cache itself records metrics, never spans.
   */
  readonly fetch: Effect.Effect<A, E>
}

/**
 * Counters since the cache was built.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly hits: number
  readonly misses: number
  /** Reads that joined an identical read already in flight instead of calling Tink. */
  readonly coalesced: number
  readonly invalidations: number
  readonly size: number
  readonly storeErrors: number
  /** hits / (hits + misses + coalesced), 0 before any read. */
  readonly hitRate: number
}

/**
 * The cache service. `lookup` returns deeply frozen values (see the module's doc).
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly lookup: <A, I, E>(lookup: Lookup<A, I, E>) => Effect.Effect<A, E>
  readonly invalidate: (scope: string) => Effect.Effect<void>
  readonly stats: Effect.Effect<Stats>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ResponseCache extends Context.Tag("@tink-effect/core/ResponseCache")<ResponseCache, Service>() {}

/** Whether freezing leaves the value working: plain data, and Effect's immutable data types. */
const freezable = (value: object): boolean => {
  if (Array.isArray(value)) return true
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null || value instanceof Data.Class ||
    (Option.isOption(value) && Option.isSome(value))
}

/** The hash method of Effect's structural data (`Data.Class`, `Schema.Class`, `Data.struct`...). */
const structuralHash = (Data.Class.prototype as Hash.Hash)[Hash.symbol]

const frozenHashes = new WeakMap<object, number>()

/**
 * The hash method frozen structural data gets as an own property: the prototype's method caches
 * the hash by defining a property, which a frozen object refuses. Computed on first use and kept
 * aside; one function for every value, so an entry holds no closure of its own.
 */
const frozenStructuralHash = function(this: object): number {
  let hash = frozenHashes.get(this)
  if (hash === undefined) {
    hash = Hash.structure(this)
    frozenHashes.set(this, hash)
  }
  return hash
}

/**
 * Gives structural data its hash method before it is frozen. Most values are never hashed, and
 * hashing a credential up front (its key and value strings, and a WeakMap entry for its `fields`
 * object) cost more than the rest of freezing it.
 */
const deferHash = (value: object): void => {
  Object.defineProperty(value, Hash.symbol, { value: frozenStructuralHash, enumerable: false })
}

/**
 * Freezes a value and what it holds, so no caller can change what others get (a cached value is
 * shared by every hit and every reader of a flight). Done once per value fetched (and per value
 * a shared store decodes), never on a memory hit. Effect's data types cache their hash by
 * defining a property on first use, which a frozen object refuses: structural data gets a hash
 * method of its own that needs no such property (`deferHash`); other Effect data is hashed first.
 * Objects of other classes (Date, Map, Chunk, Redacted...) are left as they are. Exported for
 * stores that keep decoded values themselves (a near cache), so they freeze them the same way.
 *
 * @since 0.2.0
 * @category values
 */
export const freezeDeep = <A>(value: A): A => {
  if (typeof value !== "object" || value === null || !freezable(value)) return value
  // Decoded values are never frozen but by this function, which freezes a whole value at once:
  // a frozen root (a near cache's hit) was frozen deeply already.
  if (Object.isFrozen(value)) return value
  const pending: Array<object> = [value]
  const seen = new Set<object>()
  while (pending.length > 0) {
    const next = pending.pop()!
    if (seen.has(next)) continue
    seen.add(next)
    if (Hash.isHash(next)) {
      if (next[Hash.symbol] === structuralHash) deferHash(next)
      else Hash.hash(next)
    }
    for (const key of Object.keys(next)) {
      const child = (next as Record<string, unknown>)[key]
      if (typeof child === "object" && child !== null && freezable(child)) pending.push(child)
    }
    Object.freeze(next)
  }
  return value
}

const decoders = new WeakMap<Schema.Schema.All, (input: unknown) => Either.Either<unknown, ParseResult.ParseError>>()

/**
 * A schema's decoder (`Schema.decodeUnknownEither`, unknown fields ignored), built once per
 * schema: building it costs about as much as decoding a short answer. The client decodes Tink's
 * answers with it; exported for stores that decode what they read.
 *
 * @since 0.2.0
 * @category values
 */
export const decoderOf = <A, I>(
  schema: Schema.Schema<A, I>
): (input: unknown) => Either.Either<A, ParseResult.ParseError> => {
  let decoder = decoders.get(schema)
  if (decoder === undefined) {
    const decode = Schema.decodeUnknownEither(schema)
    decoder = (input) => decode(input, { onExcessProperty: "ignore" })
    decoders.set(schema, decoder)
  }
  return decoder as (input: unknown) => Either.Either<A, ParseResult.ParseError>
}

/** The fetch for a fiber started to run it alone, where the request has one; else its fetch. */
const fetchAloneOf = <A, I, E>(request: Lookup<A, I, E>): Effect.Effect<A, E> => {
  const alone = (request as InFiber.Hooks)[InFiber.fetchAlone]
  return alone !== undefined ? alone.call(request) : request.fetch
}

/** The key read in a guard scope for its generation only; no entry is ever stored under it. */
const guardKey = "\u0001guard"
const guardParts: KeyParts = { partition: "", requestKey: guardKey }

/**
 * Whether caching is switched off for the current fiber; set by `bypass`.
 *
 * @since 0.1.0
 * @category bypass
 */
export const bypassed: FiberRef.FiberRef<boolean> = FiberRef.unsafeMake(false)

/**
 * Runs an effect with caching off: its reads go to Tink and store nothing.
 *
 * @since 0.1.0
 * @category bypass
 */
export const bypass = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(effect, bypassed, true)

/**
 * Builds the cache over a store. Closing the given scope (the layer's) stops the fetches still
 * running.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (store: Store): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.map(Effect.flatMap(Effect.scope, SingleFlight.make), (flights) => {
    let hits = 0
    let misses = 0
    let coalesced = 0
    let invalidations = 0
    const onStart = (resource: string | undefined) => {
      misses++
      TinkMetrics.cacheMisses.unsafeUpdate(1, Tracing.cacheLabels(resource))
    }
    const onJoin = (resource: string | undefined) => {
      coalesced++
      TinkMetrics.cacheCoalesced.unsafeUpdate(1, Tracing.cacheLabels(resource))
    }

    const miss = <A, I, E>(
      request: Lookup<A, I, E>,
      generation: string | undefined,
      partition: string,
      key: string,
      clock?: Clock.Clock
    ): Effect.Effect<A, E> => {
      if (generation === undefined) {
        // A read without a generation (the store failed or timed out, or the scope bypasses it)
        // neither joins a flight nor is joined, and stores nothing. A flight is safe to join
        // only if it started after every mutation that returned before this read started; the
        // generation is what proves it, and a mutation through another instance is visible
        // here only through the store that just failed. Without one, a flight started minutes
        // earlier, before another instance deleted a credential, could answer this read.
        // Reads with a generation never meet it either: their flight key holds the generation.
        onStart(request.resource)
        return Effect.map(request.fetch, freezeDeep)
      }
      // Built by the read that starts the flight only: a joiner builds no fetch and no span. The
      // flight runs it alone in a fiber of its own (`InFiber.fetchAlone`).
      const fetchAndStore = () =>
        Effect.flatMap(fetchAloneOf(request), (fetched) => {
          const value = freezeDeep(fetched)
          if (request.storable !== undefined && !request.storable(value)) return Effect.succeed(value)
          const entry: StoreEntry<A, I> = {
            scope: request.scope,
            generation,
            key,
            parts: { partition, requestKey: request.key },
            value,
            schema: request.schema,
            ttl: request.ttl
          }
          if (writeNow === undefined || clock === undefined) return Effect.as(store.write(entry), value)
          writeNow(entry, clock.unsafeCurrentTimeMillis())
          return Effect.succeed(value)
        })
      return flights.run(
        request.scope,
        `${generation}\u0000${key}`,
        fetchAndStore,
        () => onStart(request.resource),
        () => onJoin(request.resource)
      )
    }

    const hit = <A>(resource: string | undefined, value: A): Effect.Effect<A> => {
      hits++
      TinkMetrics.cacheHits.unsafeUpdate(1, Tracing.cacheLabels(resource))
      return Effect.succeed(value)
    }

    /** A read whose guard's generation is unknown (the store failing): a plain miss. */
    const unguarded = <A, I, E>(request: Lookup<A, I, E>, base: string): Effect.Effect<A, E> =>
      miss(
        request,
        undefined,
        base,
        CachePolicy.entryKey(base, CachePolicy.schemaFingerprint(request.schema), request.key)
      )

    const bypassing = <A, I, E>(request: Lookup<A, I, E>): Effect.Effect<A, E> => Effect.map(request.fetch, freezeDeep)

    /** The store's read, for reads the store cannot answer synchronously. */
    const readThrough = <A, I, E>(request: Lookup<A, I, E>, partition: string): Effect.Effect<A, E> => {
      const key = CachePolicy.entryKey(partition, CachePolicy.schemaFingerprint(request.schema), request.key)
      return Effect.flatMap(
        store.read(request.scope, key, request.schema, { partition, requestKey: request.key }),
        // A shared store decodes a fresh value per read: frozen too, so both stores behave alike.
        (read) =>
          Option.isSome(read.value)
            ? hit(request.resource, freezeDeep(read.value.value))
            : miss(request, read.generation, partition, key)
      )
    }

    const guardedThrough = <A, I, E>(request: Lookup<A, I, E>, base: string, guard: string): Effect.Effect<A, E> =>
      Effect.flatMap(
        store.read(guard, guardKey, Schema.Unknown, guardParts),
        (guarded) =>
          guarded.generation === undefined
            ? unguarded(request, base)
            : readThrough(request, `${base}@${guarded.generation}`)
      )

    const readNow = store.readNow
    const writeNow = store.writeNow
    // A hit answered by `readNow` takes no effect step but the caller's: this runs in its fiber.
    const lookupIn: InFiber.LookupIn = <A, I, E>(fiber: InFiber.RunningFiber, request: Lookup<A, I, E>) => {
      if (fiber.getFiberRef(bypassed)) return bypassing(request)
      // The partition is part of the key, for stores, joins and writes alike, and so is
      // the schema: a value only goes to a read that decodes with the same schema. The memory
      // store takes them apart, so a hit builds no key string.
      const base = request.partition ?? ""
      const guard = request.guard
      if (readNow === undefined) {
        return guard === undefined ? readThrough(request, base) : guardedThrough(request, base, guard)
      }
      // The default services always hold a clock: one map read.
      const clock = fiber.currentDefaultServices.unsafeMap.get(Clock.Clock.key) as Clock.Clock
      const now = clock.unsafeCurrentTimeMillis()
      let partition = base
      if (guard !== undefined) {
        const guarded = readNow<unknown>(guard, "", guardKey, Schema.Unknown, now)
        if (guarded === undefined) return guardedThrough(request, base, guard)
        if (guarded.generation === undefined) return unguarded(request, base)
        partition = `${base}@${guarded.generation}`
      }
      const read = readNow<A>(request.scope, partition, request.key, request.schema, now)
      if (read === undefined) return readThrough(request, partition)
      // What `readNow` returns was frozen when it was stored.
      if (Option.isSome(read.value)) return hit(request.resource, read.value.value)
      return miss(
        request,
        read.generation,
        partition,
        CachePolicy.entryKey(partition, CachePolicy.schemaFingerprint(request.schema), request.key),
        // The fetch runs with this fiber's services: the write is timed by the same clock.
        clock
      )
    }

    const service: Service = {
      lookup: (request) => Effect.withFiberRuntime((fiber) => lookupIn(fiber, request)),
      invalidate: (scope) =>
        Effect.suspend(() => {
          invalidations++
          TinkMetrics.cacheInvalidations.unsafeUpdate(1, [])
          flights.forget(scope)
          return store.invalidate(scope)
        }),
      stats: Effect.zipWith(store.size, store.errors, (size, storeErrors) => {
        const reads = hits + misses + coalesced
        return { hits, misses, coalesced, invalidations, size, storeErrors, hitRate: reads === 0 ? 0 : hits / reads }
      })
    }
    return Object.assign(service, { [InFiber.lookupIn]: lookupIn })
  })

/**
 * A cache over any store, e.g. the Redis store of `@tink-effect/platform-node`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStore = <E, R>(
  store: Effect.Effect<Store, E, R>
): Layer.Layer<ResponseCache, E, Exclude<R, Scope.Scope>> => Layer.scoped(ResponseCache, Effect.flatMap(store, make))

/**
 * An in-process LRU store holding at most `capacity` entries. Several caches built over one
 * store behave like instances sharing a Redis, which is how tests model a fleet in memory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemoryStore = (options: { readonly capacity: number }): Store =>
  MemoryStore.make(Math.max(1, Math.floor(options.capacity)))

/**
 * An in-process LRU cache holding at most `capacity` entries; the bookkeeping of scopes and
 * partitions it keeps is bounded by the capacity too.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: { readonly capacity: number }): Layer.Layer<ResponseCache> =>
  layerStore(Effect.sync(() => makeMemoryStore(options)))

/**
 * The current counters of the cache in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const stats: Effect.Effect<Stats, never, ResponseCache> = Effect.flatMap(ResponseCache, (cache) => cache.stats)
