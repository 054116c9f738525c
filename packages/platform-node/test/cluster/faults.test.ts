/**
 * The Redis store on a real local Redis Cluster through its faults, while reads and invalidations
 * of two instances run: a manual `CLUSTER FAILOVER`, a primary killed (SIGKILL) and a slot
 * migrated (`CLUSTER SETSLOT ... MIGRATING/IMPORTING` + `MIGRATE`). The oracle: a read that starts
 * after a mutation returned never gets a value from before it; a read never fails (the store
 * fails open: a miss served by the upstream). The tests share one cluster and run in order; each
 * starts from a healthy, synced cluster.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { ResponseCache } from "@tink-effect/core"
import { Duration, Effect, Fiber, Schedule, Schema } from "effect"
import * as RedisStore from "../../src/internal/redisStore.js"
import * as Cluster from "../utils/cluster.js"
import { namespace } from "../utils/redis.js"

const Versioned = Schema.Struct({ version: Schema.Number })
type Versioned = typeof Versioned.Type
const ttl = Duration.minutes(1)

/** `count` scopes whose keys all live in `slot` (their hash tag is the scope). */
const scopesInSlot = (slot: number, count: number): Array<string> => {
  const found: Array<string> = []
  for (let i = 0; found.length < count; i++) {
    if (Cluster.slotOfScope(`u:s-${i}`) === slot) found.push(`u:s-${i}`)
  }
  return found
}

const store = (cluster: Cluster.Cluster, ns: string) =>
  Effect.flatMap(
    RedisStore.make({
      cluster: { nodes: [cluster.seeds[0], ...cluster.seeds.slice(1)] },
      namespace: ns,
      timeout: "200 millis",
      invalidationTimeout: "500 millis",
      generationTtl: Duration.minutes(2),
      retrySchedule: Schedule.spaced("50 millis")
    }),
    (store) => Effect.map(ResponseCache.make(store), (cache) => ({ store, cache }))
  )

/**
 * Two instances over the cluster and an upstream whose data per scope is a version: readers on
 * both, one mutator on A (the version moves on, then A invalidates). Counts stale reads (a value
 * older than the last mutation that had returned when the read started) and failed reads.
 *
 * A mutation whose invalidation A could not deliver (A still routes the slot to the dead primary)
 * returned after applying it locally (C9): A bypasses Redis for the scope, and other instances
 * may serve the old entry until A's background redelivery reaches the new primary. Such a
 * mutation binds reads from the moment it is delivered (`isPending` false); reads that got an
 * older value before that are counted apart (`staleWhilePending`), as the documented window.
 */
const workload = (cluster: Cluster.Cluster, scopes: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const ns = namespace()
    const { cache: a, store: aStore } = yield* store(cluster, ns)
    const { cache: b } = yield* store(cluster, ns)
    const truth = new Map(scopes.map((scope) => [scope, 1]))
    const committed = new Map(scopes.map((scope) => [scope, 1]))
    /** The last mutation per scope that returned with its invalidation still pending on A. */
    const undelivered = new Map<string, { readonly version: number; readonly at: number }>()
    const counts = {
      reads: 0,
      fetches: 0,
      stale: 0,
      failed: 0,
      mutations: 0,
      pendingMutations: 0,
      staleWhilePending: 0,
      /** The longest a pending invalidation took to be delivered (from its mutation returning), ms. */
      longestPendingMs: 0,
      /** The latest a stale-while-pending read started after the mutation it missed returned, ms. */
      windowMs: 0,
      /** When the last stale-while-pending read started (epoch ms; 0: none). */
      lastStaleWhilePendingAt: 0,
      /** When the last pending invalidation was seen delivered (epoch ms; 0: none). */
      lastDeliveredAt: 0
    }
    const fetch = (scope: string) =>
      Effect.sync((): Versioned => {
        counts.fetches++
        return { version: truth.get(scope)! }
      })
    const read = (cache: ResponseCache.Service, scope: string) =>
      Effect.suspend(() => {
        const waiting = undelivered.get(scope)
        const startedAt = Date.now()
        if (waiting !== undefined && !aStore.isPending(scope)) {
          undelivered.delete(scope)
          committed.set(scope, Math.max(committed.get(scope)!, waiting.version))
          counts.longestPendingMs = Math.max(counts.longestPendingMs, startedAt - waiting.at)
          counts.lastDeliveredAt = startedAt
        }
        const floor = committed.get(scope)!
        const pending = undelivered.get(scope)
        return cache.lookup({ scope, key: "GET /api/v1/credentials/list", ttl, schema: Versioned, fetch: fetch(scope) })
          .pipe(
            Effect.match({
              onFailure: () => {
                counts.failed++
              },
              onSuccess: (value) => {
                counts.reads++
                if (value.version < floor) counts.stale++
                else if (pending !== undefined && value.version < pending.version) {
                  counts.staleWhilePending++
                  counts.windowMs = Math.max(counts.windowMs, startedAt - pending.at)
                  counts.lastStaleWhilePendingAt = startedAt
                }
              }
            })
          )
      })
    const mutate = (scope: string) =>
      Effect.suspend(() => {
        const next = truth.get(scope)! + 1
        truth.set(scope, next)
        return Effect.map(a.invalidate(scope), () => {
          counts.mutations++
          if (aStore.isPending(scope)) {
            counts.pendingMutations++
            const before = undelivered.get(scope)
            // The window is measured from the first undelivered mutation of the scope.
            undelivered.set(scope, { version: Math.max(before?.version ?? 0, next), at: before?.at ?? Date.now() })
          } else {
            committed.set(scope, Math.max(committed.get(scope)!, next))
          }
        })
      })
    /** One deterministic round over every scope: read on both, mutate, read on both. */
    const round = Effect.forEach(scopes, (scope) =>
      Effect.all([read(b, scope), read(a, scope), mutate(scope), read(b, scope), read(a, scope), read(b, scope)], {
        discard: true
      }), { discard: true })
    const pick = () =>
      scopes[Math.floor(Math.random() * scopes.length)]!
    /** Background load until interrupted: two readers per instance, one mutator. */
    const background = Effect.all([
      Effect.forever(Effect.zipRight(read(a, pick()), Effect.sleep("1 millis"))),
      Effect.forever(Effect.zipRight(read(b, pick()), Effect.sleep("1 millis"))),
      Effect.forever(Effect.zipRight(read(b, pick()), Effect.sleep("1 millis"))),
      Effect.forever(Effect.zipRight(mutate(pick()), Effect.sleep("5 millis")))
    ], { concurrency: "unbounded", discard: true })
    return { a, b, aStore, counts, round, background, read }
  })

/** Hits happen again: a scope read twice on B costs one fetch. */
const servesHits = (w: Effect.Effect.Success<ReturnType<typeof workload>>, scope: string) =>
  Effect.gen(function*() {
    const before = w.counts.fetches
    yield* w.read(w.b, scope)
    yield* w.read(w.b, scope)
    yield* w.read(w.a, scope)
    return w.counts.fetches - before
  }).pipe(
    Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (fetches) => fetches <= 1 }),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the cache never served hits again") }),
    Effect.orDie
  )

const shared = Cluster.shared()
afterAll(() => shared.close(), 30_000)

describe(
  "the Redis store through Redis Cluster faults",
  () => {
    it.scopedLive(
      "a manual CLUSTER FAILOVER under load: no stale read, no failed read, hits again after",
      () =>
        Effect.gen(function*() {
          const cluster = yield* shared.cluster
          yield* cluster.healthy({ synced: true })
          const slot = Cluster.slotOfScope("u:failover")
          const scopes = ["u:failover", ...scopesInSlot(slot, 5)]
          const { primary, replicas } = yield* cluster.shardOf(slot)
          const w = yield* workload(cluster, scopes)
          yield* w.round
          const load = yield* Effect.fork(w.background)
          yield* w.round
          yield* cluster.send(replicas[0]!, ["CLUSTER", "FAILOVER"])
          // Rounds while the failover runs, until the replica serves the slot.
          yield* Effect.gen(function*() {
            yield* w.round
            return (yield* cluster.shardOf(slot)).primary
          }).pipe(
            Effect.repeat({ until: (now) => now === replicas[0] }),
            Effect.timeoutFail({ duration: "15 seconds", onTimeout: () => new Error("the failover did not happen") }),
            Effect.orDie
          )
          assert.notStrictEqual((yield* cluster.shardOf(slot)).primary, primary)
          yield* cluster.healthy()
          for (let i = 0; i < 5; i++) yield* w.round
          yield* Fiber.interrupt(load)
          yield* Effect.logInfo("cluster fault workload").pipe(Effect.annotateLogs(w.counts))
          assert.strictEqual(w.counts.stale, 0, "no read returned data from before a returned mutation")
          assert.strictEqual(w.counts.failed, 0, "no read failed")
          assert.isAbove(w.counts.mutations, 30)
          yield* servesHits(w, scopes[0]!)
        }),
      45_000
    )

    it.scopedLive(
      "a primary killed mid-run: reads keep succeeding (fail open), nothing stale during or after recovery",
      () =>
        Effect.gen(function*() {
          const cluster = yield* shared.cluster
          yield* cluster.healthy({ synced: true })
          const slot = Cluster.slotOfScope("u:killed")
          const scopes = ["u:killed", ...scopesInSlot(slot, 5), "u:elsewhere-1", "u:elsewhere-2"]
          const { primary, replicas } = yield* cluster.shardOf(slot)
          const victim = cluster.nodes.find((node) => node.port === primary)!
          assert.isAbove(replicas.length, 0)
          const w = yield* workload(cluster, scopes)
          yield* w.round
          const load = yield* Effect.fork(w.background)
          yield* w.round
          const killedAt = Date.now()
          yield* victim.kill
          yield* Effect.gen(function*() {
            yield* w.round
            return (yield* cluster.shardOf(slot)).primary
          }).pipe(
            Effect.repeat({ until: (now) => now !== undefined && replicas.includes(now) }),
            Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("no replica took over") }),
            Effect.orDie
          )
          const promotedAt = Date.now()
          for (let i = 0; i < 3; i++) yield* w.round
          // The old primary comes back, as a replica of the new one.
          yield* victim.start
          yield* cluster.healthy({ synced: true })
          for (let i = 0; i < 3; i++) yield* w.round
          yield* Fiber.interrupt(load)
          yield* Effect.logInfo("cluster fault workload").pipe(Effect.annotateLogs(w.counts))
          assert.strictEqual(w.counts.stale, 0, "no read returned data from before a returned mutation")
          assert.strictEqual(w.counts.failed, 0, "no read failed: Redis failing is a miss")
          // The documented window, for the README: how long after the test saw the replica promoted
          // reads could still miss a pending invalidation, and pending ones were still being delivered.
          yield* Effect.logInfo("cluster kill window").pipe(Effect.annotateLogs({
            killedToPromotedMs: promotedAt - killedAt,
            lastStaleWhilePendingAfterPromotionMs: w.counts.lastStaleWhilePendingAt === 0 ?
              "none" :
              w.counts.lastStaleWhilePendingAt - promotedAt,
            lastDeliveryAfterPromotionMs: w.counts.lastDeliveredAt - promotedAt
          }))
          yield* servesHits(w, scopes[0]!)
          const stats = yield* ResponseCache.stats.pipe(Effect.provideService(ResponseCache.ResponseCache, w.b))
          assert.isAbove(stats.storeErrors, 0, "the outage was counted")
        }),
      45_000
    )

    it.scopedLive(
      "a slot migrated to another primary while reads and invalidations run: nothing stale, hits again after",
      () =>
        Effect.gen(function*() {
          const cluster = yield* shared.cluster
          yield* cluster.healthy({ synced: true })
          const slot = Cluster.slotOfScope("u:migrated")
          const scopes = ["u:migrated", ...scopesInSlot(slot, 5)]
          const source = (yield* cluster.shardOf(slot)).primary!
          const primaries = new Set<number>()
          for (const node of cluster.nodes) {
            if (!node.alive()) continue
            const role = (yield* cluster.send(node.port, ["ROLE"])) as Array<unknown>
            if (role[0] === "master") primaries.add(node.port)
          }
          const target = [...primaries].find((port) => port !== source)!
          const sourceId = yield* cluster.idOf(source)
          const targetId = yield* cluster.idOf(target)
          const w = yield* workload(cluster, scopes)
          yield* w.round
          yield* w.round
          const load = yield* Effect.fork(w.background)
          yield* cluster.send(target, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceId])
          yield* cluster.send(source, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetId])
          // One key at a time, a round of reads and invalidations between each.
          let moved = 0
          while (true) {
            const keys = (yield* cluster.send(source, ["CLUSTER", "GETKEYSINSLOT", String(slot), "1"])) as Array<string>
            if (keys.length === 0) break
            const reply = yield* cluster.send(source, [
              "MIGRATE",
              "127.0.0.1",
              String(target),
              "",
              "0",
              "5000",
              "KEYS",
              ...keys
            ])
            assert.notInstanceOf(reply, Error)
            moved += keys.length
            yield* w.round
          }
          for (const port of [target, source, ...[...primaries].filter((p) => p !== source && p !== target)]) {
            yield* cluster.send(port, ["CLUSTER", "SETSLOT", String(slot), "NODE", targetId])
          }
          assert.isAbove(moved, 0, "keys of the slot were migrated")
          yield* Effect.gen(function*() {
            yield* w.round
            return (yield* cluster.shardOf(slot)).primary
          }).pipe(
            Effect.repeat({ until: (now) => now === target }),
            Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the slot never moved") }),
            Effect.orDie
          )
          for (let i = 0; i < 3; i++) yield* w.round
          yield* Fiber.interrupt(load)
          yield* Effect.logInfo("cluster fault workload").pipe(Effect.annotateLogs(w.counts))
          assert.strictEqual(w.counts.stale, 0, "no read returned data from before a returned mutation")
          assert.strictEqual(w.counts.failed, 0, "no read failed")
          yield* servesHits(w, scopes[0]!)
        }),
      45_000
    )
  }
)
