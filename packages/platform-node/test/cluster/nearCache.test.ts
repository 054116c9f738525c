/**
 * The near cache on a real local Redis Cluster (3 primaries, 3 replicas, started by the tests:
 * test/utils/cluster.ts): tracking per node connection, a probe of every primary, and the whole
 * near cache cleared by a failover, a slot migrated or a node connection killed. Two instances are
 * two stores in one process. Waiting is on the near cache's own events. Never skipped: a cluster
 * that does not start fails these tests. The tests share one cluster and run in order.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { CachePolicy, ResponseCache } from "@tink-effect/core"
import { Deferred, Duration, Effect, Fiber, Ref, Schedule, Schema } from "effect"
import { createClient } from "redis"
import * as NearCache from "../../src/internal/redisNearCache.js"
import * as RedisStore from "../../src/internal/redisStore.js"
import * as Cluster from "../utils/cluster.js"
import { nextEvent } from "../utils/nearEvents.js"
import { namespace } from "../utils/redis.js"

const Versioned = Schema.Struct({ version: Schema.Number })
const key = "GET /api/v1/credentials/list"
/** The key the cache hands the store for `key` (no partition). */
const storeKey = CachePolicy.entryKey("", CachePolicy.schemaFingerprint(Versioned), key)

/** One application instance: a Redis store on the cluster with a near cache, and a cache over it. */
const instance = (cluster: Cluster.Cluster, ns: string) =>
  Effect.gen(function*() {
    const store = yield* RedisStore.make({
      cluster: { nodes: [cluster.seeds[0], ...cluster.seeds.slice(1)] },
      namespace: ns,
      timeout: "500 millis",
      generationTtl: Duration.minutes(2),
      retrySchedule: Schedule.spaced("50 millis"),
      nearCache: { capacity: 100 }
    })
    const cache = yield* ResponseCache.make(store)
    return { store, near: store.near!, cache }
  })
type Instance = Effect.Effect.Success<ReturnType<typeof instance>>

/** Tink's side: each fetch returns the next version. */
const upstream = Effect.map(Ref.make(0), (calls) => ({
  calls: Ref.get(calls),
  fetch: Effect.map(Ref.updateAndGet(calls, (n) => n + 1), (version) => ({ version }))
}))
type Upstream = Effect.Effect.Success<typeof upstream>

const read = (x: Instance, scope: string, tink: Upstream) =>
  x.cache.lookup({ scope, key, ttl: Duration.minutes(1), schema: Versioned, fetch: tink.fetch })

/** Resolves at the next round of probes that lets `near` serve (every primary answered). */
const nextHeard = (near: NearCache.NearCache) =>
  Effect.gen(function*() {
    const heard = yield* Deferred.make<void>()
    const listener = (cache: NearCache.NearCache) => {
      if (cache === near) Deferred.unsafeDone(heard, Effect.void)
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => NearCache.heardListeners.add(listener)),
      () => Effect.sync(() => NearCache.heardListeners.delete(listener))
    )
    yield* Deferred.await(heard).pipe(
      Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("no round of probes answered") }),
      Effect.orDie
    )
  }).pipe(Effect.scoped)

/**
 * Reads until `x` serves the scope from its near cache (the read's own write ends the tracking of
 * the generation once, as on one Redis; and a cache cleared by a topology change serves again
 * after the next round of probes). Returns the value it serves.
 */
const warm = (x: Instance, scope: string, tink: Upstream) =>
  Effect.gen(function*() {
    const value = yield* read(x, scope, tink)
    yield* nextHeard(x.near)
    return { value, served: x.near.get(scope, storeKey) !== undefined }
  }).pipe(
    Effect.repeat({ until: ({ served }) => served, times: 20 }),
    Effect.filterOrDieMessage(({ served }) => served, "the near cache never served the scope"),
    Effect.map(({ value }) => value)
  )

/**
 * The commands naming `needle` that the node on `port` runs (MONITOR), up to a marker sent now: a
 * hit served by the near cache sends none.
 */
const monitor = (cluster: Cluster.Cluster, port: number, needle: string) =>
  Effect.gen(function*() {
    const seen: Array<string> = []
    const watcher = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false } })
        client.on("error", () => undefined)
        await client.connect()
        await client.monitor((line: string) => {
          if (line.includes(needle) && !/^\S+ \[\d+ lua\]/.test(line)) seen.push(line)
        })
        return client
      }),
      (client) => Effect.sync(() => client.destroy())
    )
    let markers = 0
    return {
      watcher,
      take: Effect.gen(function*() {
        const marker = `${needle}:marker:${++markers}`
        yield* cluster.send(port, ["ECHO", marker])
        yield* Effect.sync(() => seen.some((line) => line.includes(marker))).pipe(
          Effect.repeat({ schedule: Schedule.spaced("5 millis"), until: (found) => found }),
          Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => new Error("MONITOR never showed the marker") }),
          Effect.orDie
        )
        const index = seen.findIndex((line) => line.includes(marker))
        return seen.splice(0, index + 1).slice(0, index).filter((line) => !line.includes(`${needle}:marker:`))
      })
    }
  })

/** Until A's invalidation of the scope is delivered (it may go pending across a topology change). */
const delivered = (a: Instance, scope: string) =>
  Effect.sync(() => a.store.isPending(scope)).pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (pending) => !pending }),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the invalidation was never delivered") }),
    Effect.orDie
  )

/**
 * After a fault: A's next mutation reaches B (B reads it fresh at once), B serves from its near
 * cache again, and a later mutation of A is pushed to B over its connection to the slot's
 * (possibly new) primary.
 */
const stillTracks = (a: Instance, b: Instance, scope: string, tink: Upstream) =>
  Effect.gen(function*() {
    yield* a.cache.invalidate(scope)
    yield* delivered(a, scope)
    const calls = yield* tink.calls
    assert.strictEqual((yield* read(b, scope, tink)).version, calls + 1, "B reads after A's mutation, fresh")
    const served = yield* warm(b, scope, tink)
    const pushed = yield* nextEvent((event) =>
      event.cache === b.near && (event._tag === "Cleared" || (event._tag === "Dropped" && event.scope === scope))
    )
    yield* a.cache.invalidate(scope)
    yield* pushed
    const fresh = yield* read(b, scope, tink)
    assert.isAbove(fresh.version, served.version, "B's near cache let the mutation through")
  })

/**
 * How long after a mutation returned (and was delivered) a near-cache hit on another instance may
 * still predate it during a failover: one probe interval (200 ms) plus the read bound (500 ms in
 * these tests), plus scheduling slack on a shared machine. Outside faults it is a push's latency.
 */
const failoverWindowMs = 900

/**
 * A under load through a fault: A mutates the scopes (the upstream's version moves on, then A
 * invalidates) while B reads them through its near cache. A read of B that starts more than
 * `failoverWindowMs` after a mutation returned and was delivered must see it.
 */
const underLoad = (a: Instance, b: Instance, scopes: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const truth = new Map(scopes.map((scope) => [scope, 0]))
    /** Per scope, the mutations that returned and were delivered: version and when. */
    const committed = new Map(scopes.map((scope) => [scope, [] as Array<{ version: number; at: number }>]))
    const counts = { reads: 0, stale: 0, worstLateMs: 0, mutations: 0, hits: 0 }
    const fetch = (scope: string) => Effect.sync(() => ({ version: truth.get(scope)! }))
    const readB = (scope: string) =>
      Effect.gen(function*() {
        const startedAt = Date.now()
        const served = b.near.get(scope, storeKey) !== undefined
        const value = yield* b.cache.lookup({
          scope,
          key,
          ttl: Duration.minutes(1),
          schema: Versioned,
          fetch: fetch(scope)
        })
        counts.reads++
        if (served) counts.hits++
        for (const mutation of committed.get(scope)!) {
          if (mutation.version > value.version && mutation.at < startedAt) {
            const late = startedAt - mutation.at
            counts.worstLateMs = Math.max(counts.worstLateMs, late)
            if (late > failoverWindowMs) counts.stale++
          }
        }
      })
    const mutate = (scope: string) =>
      Effect.gen(function*() {
        const version = truth.get(scope)! + 1
        truth.set(scope, version)
        yield* a.cache.invalidate(scope)
        yield* delivered(a, scope)
        committed.get(scope)!.push({ version, at: Date.now() })
        counts.mutations++
      })
    const readers = Effect.forever(
      Effect.zipRight(Effect.forEach(scopes, readB, { discard: true }), Effect.sleep("1 millis"))
    )
    const mutator = Effect.forever(
      Effect.zipRight(Effect.forEach(scopes, mutate, { discard: true }), Effect.sleep("30 millis"))
    )
    return { counts, run: Effect.all([readers, mutator], { concurrency: 2, discard: true }) }
  })

const shared = Cluster.shared()
afterAll(() => shared.close(), 30_000)

describe("the near cache on Redis Cluster", () => {
  it.scopedLive("a repeated hit is served with no round trip to the slot's primary", () =>
    Effect.gen(function*() {
      const cluster = yield* shared.cluster
      yield* cluster.healthy()
      const ns = namespace()
      const scope = "u:near-hit"
      const primary = (yield* cluster.shardOf(Cluster.slotOfScope(scope))).primary!
      const a = yield* instance(cluster, ns)
      const tink = yield* upstream
      assert.deepStrictEqual(yield* warm(a, scope, tink), { version: 1 })
      const watch = yield* monitor(cluster, primary, ns)
      const hits = yield* Effect.all(Array.from({ length: 5 }, () => read(a, scope, tink)))
      assert.deepStrictEqual(yield* watch.take, [])
      assert.isTrue(hits.every((value) => value.version === 1 && Object.isFrozen(value)))
      assert.strictEqual(yield* tink.calls, 1)
    }), 45_000)

  it.scopedLive(
    "A's invalidation is pushed to B by the slot's primary: B drops the scope, then reads fresh",
    () =>
      Effect.gen(function*() {
        const cluster = yield* shared.cluster
        yield* cluster.healthy()
        const ns = namespace()
        const a = yield* instance(cluster, ns)
        const b = yield* instance(cluster, ns)
        const tink = yield* upstream
        // Scopes on every primary: each is tracked by B's connection to its own node.
        for (const scope of ["u:alice", "u:bob", "u:carol", "u:dave"]) {
          const before = yield* tink.calls
          yield* warm(a, scope, tink)
          const served = yield* warm(b, scope, tink)
          assert.strictEqual(served.version, before + 1)
          const pushed = yield* nextEvent((event) =>
            event._tag === "Dropped" && event.cache === b.near && event.by === "push" && event.scope === scope
          )
          yield* a.cache.invalidate(scope)
          yield* pushed
          assert.isUndefined(b.near.get(scope, storeKey))
          assert.strictEqual((yield* read(b, scope, tink)).version, before + 2)
          assert.strictEqual((yield* read(a, scope, tink)).version, before + 2)
        }
      }),
    45_000
  )

  it.scopedLive(
    "a node connection killed (CLIENT KILL) clears the near cache; tracking resumes after",
    () =>
      Effect.gen(function*() {
        const cluster = yield* shared.cluster
        yield* cluster.healthy()
        const ns = namespace()
        const scope = "u:near-killed"
        const primary = (yield* cluster.shardOf(Cluster.slotOfScope(scope))).primary!
        const a = yield* instance(cluster, ns)
        const b = yield* instance(cluster, ns)
        const tink = yield* upstream
        yield* warm(a, scope, tink)
        yield* warm(b, scope, tink)
        const cleared = yield* nextEvent((event) =>
          event._tag === "Cleared" && event.cache === b.near && event.by === "connection"
        )
        const killed = yield* cluster.send(primary, ["CLIENT", "KILL", "TYPE", "normal"])
        assert.isAbove(Number(killed), 0)
        yield* cleared
        assert.isUndefined(b.near.get(scope, storeKey))
        yield* stillTracks(a, b, scope, tink)
      }),
    45_000
  )

  it.scopedLive(
    "a primary that stops answering (CLIENT PAUSE) stops the whole near cache until it answers",
    () =>
      Effect.gen(function*() {
        const cluster = yield* shared.cluster
        yield* cluster.healthy()
        const ns = namespace()
        const scope = "u:near-paused"
        const own = (yield* cluster.shardOf(Cluster.slotOfScope(scope))).primary!
        const primaries: Array<number> = []
        for (const node of cluster.nodes) {
          if (!node.alive()) continue
          const role = (yield* cluster.send(node.port, ["ROLE"])) as Array<unknown>
          if (role[0] === "master") primaries.push(node.port)
        }
        // Another primary than the scope's: any silent primary stops everything.
        const silent = primaries.find((port) => port !== own)!
        const b = yield* instance(cluster, ns)
        const tink = yield* upstream
        yield* warm(b, scope, tink)
        assert.strictEqual(yield* cluster.send(silent, ["CLIENT", "PAUSE", "2000", "WRITE"]), "OK")
        yield* Effect.sync(() => b.near.get(scope, storeKey) === undefined).pipe(
          Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (stopped) => stopped }),
          Effect.timeoutFail({ duration: "1500 millis", onTimeout: () => new Error("the near cache kept serving") }),
          Effect.orDie
        )
        yield* cluster.send(silent, ["CLIENT", "UNPAUSE"])
        // What it remembered is kept (nothing moved): it serves again once every primary answers.
        yield* nextHeard(b.near)
        assert.isDefined(b.near.get(scope, storeKey))
        assert.strictEqual(yield* tink.calls, 1)
      }),
    45_000
  )

  it.scopedLive(
    "a slot migrated to another primary clears the near cache; tracking resumes on the new primary",
    () =>
      Effect.gen(function*() {
        const cluster = yield* shared.cluster
        yield* cluster.healthy({ synced: true })
        const ns = namespace()
        const scope = "u:near-migrated"
        const slot = Cluster.slotOfScope(scope)
        const source = (yield* cluster.shardOf(slot)).primary!
        const primaries: Array<number> = []
        for (const node of cluster.nodes) {
          if (!node.alive()) continue
          const role = (yield* cluster.send(node.port, ["ROLE"])) as Array<unknown>
          if (role[0] === "master") primaries.push(node.port)
        }
        const target = primaries.find((port) => port !== source)!
        const sourceId = yield* cluster.idOf(source)
        const targetId = yield* cluster.idOf(target)
        const a = yield* instance(cluster, ns)
        const b = yield* instance(cluster, ns)
        const tink = yield* upstream
        yield* warm(a, scope, tink)
        const before = yield* warm(b, scope, tink)
        const cleared = yield* nextEvent((event) =>
          event._tag === "Cleared" && event.cache === b.near && event.by === "topology"
        )
        yield* cluster.send(target, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceId])
        yield* cluster.send(source, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetId])
        const keys = (yield* cluster.send(source, ["CLUSTER", "GETKEYSINSLOT", String(slot), "100"])) as Array<string>
        assert.isAbove(keys.length, 0)
        assert.notInstanceOf(
          yield* cluster.send(source, ["MIGRATE", "127.0.0.1", String(target), "", "0", "5000", "KEYS", ...keys]),
          Error
        )
        for (const port of [target, source, ...primaries.filter((p) => p !== source && p !== target)]) {
          yield* cluster.send(port, ["CLUSTER", "SETSLOT", String(slot), "NODE", targetId])
        }
        yield* cleared
        assert.strictEqual((yield* cluster.shardOf(slot)).primary, target)
        // Nothing from before the move is served from the near cache.
        assert.isUndefined(b.near.get(scope, storeKey))
        // The generation key arrived with the source's epoch, so the scope starts over on the target
        // (a fetch); never anything older.
        assert.isAtLeast((yield* read(b, scope, tink)).version, before.version)
        yield* stillTracks(a, b, scope, tink)
      }),
    45_000
  )

  it.scopedLive(
    "a CLUSTER FAILOVER of the user's primary clears the near cache; tracking resumes on the new one",
    () =>
      Effect.gen(function*() {
        const cluster = yield* shared.cluster
        yield* cluster.healthy({ synced: true })
        const ns = namespace()
        const scope = "u:near-failover"
        const slot = Cluster.slotOfScope(scope)
        const { primary, replicas } = yield* cluster.shardOf(slot)
        const a = yield* instance(cluster, ns)
        const b = yield* instance(cluster, ns)
        const tink = yield* upstream
        yield* warm(a, scope, tink)
        yield* warm(b, scope, tink)
        const cleared = yield* nextEvent((event) => event._tag === "Cleared" && event.cache === b.near)
        assert.strictEqual(yield* cluster.send(replicas[0]!, ["CLUSTER", "FAILOVER"]), "OK")
        yield* cleared
        yield* Effect.map(cluster.shardOf(slot), (shard) => shard.primary).pipe(
          Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (now) => now === replicas[0] }),
          Effect.timeoutFail({ duration: "15 seconds", onTimeout: () => new Error("the failover did not happen") }),
          Effect.orDie
        )
        assert.notStrictEqual((yield* cluster.shardOf(slot)).primary, primary)
        yield* cluster.healthy()
        // Nothing from before the failover is served from the near cache.
        assert.isUndefined(b.near.get(scope, storeKey))
        yield* stillTracks(a, b, scope, tink)
      }),
    60_000
  )

  it.scopedLive("a CLUSTER FAILOVER under load: no near-cache hit outside the window", () =>
    Effect.gen(function*() {
      const cluster = yield* shared.cluster
      yield* cluster.healthy({ synced: true })
      const ns = namespace()
      const scope = "u:near-load"
      const slot = Cluster.slotOfScope(scope)
      const { replicas } = yield* cluster.shardOf(slot)
      const a = yield* instance(cluster, ns)
      const b = yield* instance(cluster, ns)
      const scopes = [scope, "u:elsewhere-a", "u:elsewhere-b"]
      const load = yield* underLoad(a, b, scopes)
      const running = yield* Effect.fork(load.run)
      yield* Effect.sleep("1 second")
      assert.strictEqual(yield* cluster.send(replicas[0]!, ["CLUSTER", "FAILOVER"]), "OK")
      yield* Effect.map(cluster.shardOf(slot), (shard) => shard.primary).pipe(
        Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (now) => now === replicas[0] }),
        Effect.timeoutFail({ duration: "15 seconds", onTimeout: () => new Error("the failover did not happen") }),
        Effect.orDie
      )
      yield* cluster.healthy()
      yield* Effect.sleep("2 seconds")
      yield* Fiber.interrupt(running)
      yield* Effect.logInfo("near cache failover under load").pipe(Effect.annotateLogs(load.counts))
      assert.strictEqual(load.counts.stale, 0, `no hit more than ${failoverWindowMs} ms after a mutation returned`)
      assert.isAbove(load.counts.mutations, 20)
      assert.isAbove(load.counts.hits, 0, "the near cache served hits")
    }), 60_000)

  it.scopedLive(
    "the push window on the cluster (B7): from A's invalidation returning to B dropping the user",
    () =>
      Effect.gen(function*() {
        const cluster = yield* shared.cluster
        yield* cluster.healthy()
        const ns = namespace()
        const a = yield* instance(cluster, ns)
        const b = yield* instance(cluster, ns)
        const tink = yield* upstream
        const scopes = ["u:w-1", "u:w-2", "u:w-3", "u:w-4"]
        const windows: Array<number> = []
        for (let i = 0; i < 20; i++) {
          const scope = scopes[i % scopes.length]!
          yield* warm(b, scope, tink)
          let droppedAt = 0
          const pushed = yield* nextEvent((event) => {
            const match = event._tag === "Dropped" && event.cache === b.near && event.by === "push" &&
              event.scope === scope
            if (match) droppedAt = performance.now()
            return match
          })
          yield* a.cache.invalidate(scope)
          const returnedAt = performance.now()
          yield* pushed
          windows.push(Math.max(0, droppedAt - returnedAt))
        }
        windows.sort((x, y) => x - y)
        const median = windows[Math.floor(windows.length / 2)]!
        const p99 = windows[Math.ceil(windows.length * 0.99) - 1]!
        yield* Effect.logInfo("near cache push window on the cluster").pipe(
          Effect.annotateLogs({ samples: windows.length, medianMs: median.toFixed(3), p99Ms: p99.toFixed(3) })
        )
        assert.strictEqual(windows.length, 20, "every invalidation was pushed to B")
      }),
    60_000
  )
})
