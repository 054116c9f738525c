/**
 * The setups the model runs in: N cache instances sharing one store (memory, the shared Redis, or
 * a redis-server of the test's own that it can fill, roll back and cut off, or the local Redis
 * Cluster), each with its own TinkClient, talking to one sandbox (in memory, or over real
 * sockets). The single-Redis worlds can turn the stores' near caches on (issue 12), seen through
 * a `NearWindow` (nearWindow.ts).
 */
import { HttpClient } from "@effect/platform"
import { ResponseCache as CoreCache, TinkUser as CoreUser } from "@tink-effect/core"
import { RedisResponseStore } from "@tink-effect/platform-node"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import {
  Context,
  Duration,
  Effect,
  ExecutionStrategy,
  Exit,
  Fiber,
  FiberRef,
  Layer,
  Metric,
  Option,
  Schedule,
  Schema,
  Scope
} from "effect"
import * as RedisStore from "../../../src/internal/redisStore.js"
import * as Cluster from "../../utils/cluster.js"
import * as Instance from "../../utils/instance.js"
import * as Redis from "../../utils/redis.js"
import * as FaultProxy from "./faultProxy.js"
import { NearWindow } from "./nearWindow.js"
import * as RedisServer from "./redisServer.js"
import { Attribution, currentRead, type DegradeMode, type Fault, type World } from "./scenario.js"

/** Refreshes never settle during a run: a refreshed credential stays AUTHENTICATING, a second refresh is a 409. */
export const refreshStepMillis = 3_600_000

/**
 * A store whose reads can be made to fail on demand, as a Redis read does when the link is cut
 * (`refuse`: at once) or Redis is paused (`timeout`: after the bound): the read has no
 * generation, and its result is not stored. Invalidations still reach the shared store (the
 * mutating instance is another one, or its longer invalidation bound was enough). It has no
 * synchronous read, so every read goes through `read`, as with Redis.
 */
const degradable = (store: CoreCache.Store, timeoutMillis: number) => {
  let mode: DegradeMode | undefined
  const miss: CoreCache.StoreRead<never> = { generation: undefined, value: Option.none() }
  const wrapped: CoreCache.Store = {
    read: (scope, key, schema) =>
      Effect.suspend(() =>
        mode === undefined
          ? store.read(scope, key, schema)
          : mode === "refuse"
          ? Effect.succeed(miss)
          : Effect.as(Effect.sleep(Duration.millis(timeoutMillis)), miss)
      ),
    write: (entry) => Effect.suspend(() => mode === undefined ? store.write(entry) : Effect.void),
    invalidate: store.invalidate,
    size: store.size,
    errors: store.errors
  }
  return { store: wrapped, set: (next: DegradeMode | undefined) => (mode = next) }
}

/**
 * Everything in memory: one sandbox reached without sockets, one memory store shared by the
 * instances. `cache` replaces how an instance's cache is built over the shared store (the
 * meta-test plugs deliberately broken caches in here). With `degradable`, each instance's store
 * reads can be failed on demand (the `degrade` and `restore` faults).
 */
export const memory = (
  instances: number,
  options: {
    readonly cache?: (store: CoreCache.Store) => Effect.Effect<CoreCache.Service, never, Scope.Scope>
    readonly responseDelay?: number
    readonly degradable?: boolean
  } = {}
): Effect.Effect<World, never, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Sandbox.layerTest({ refreshStepMillis }))
    const sandbox = Context.get(context, Sandbox.Sandbox)
    const attribution = new Attribution(options.responseDelay ?? 0)
    const http = attribution.wrap(Context.get(context, HttpClient.HttpClient))
    const store = CoreCache.makeMemoryStore({ capacity: 10_000 })
    const makeCache = options.cache ?? CoreCache.make
    const built: Array<Instance.Instance> = []
    const switches: Array<(mode: DegradeMode | undefined) => void> = []
    for (let i = 0; i < instances; i++) {
      const own = options.degradable === true ? degradable(store, 30) : undefined
      if (own !== undefined) switches.push(own.set)
      built.push(
        yield* Instance.build({
          baseUrl: "http://sandbox.test",
          client: { maxRetries: 0 },
          cache: Layer.scoped(CoreCache.ResponseCache, makeCache(own?.store ?? store)),
          http: Layer.succeed(HttpClient.HttpClient, http)
        })
      )
    }
    return {
      sandbox,
      instances: built,
      attribution,
      pendingWhenDegraded: false,
      fault: (fault: Fault) =>
        Effect.sync(() => {
          if (fault._tag === "degrade") switches[fault.instance]?.(fault.mode)
          if (fault._tag === "restore") switches[fault.instance]?.(undefined)
        })
    }
  })

/**
 * The sandbox over HTTP; each instance has its own undici client and its own connection to the
 * real Redis, all in one fresh namespace, deleted at the end. Fails (never skips) when Redis is down.
 */
export const redis = (
  instances: number,
  options: { readonly timeout?: Duration.DurationInput; readonly responseDelay?: number } = {}
): Effect.Effect<World & { readonly namespace: string }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const admin = yield* Redis.admin
    const context = yield* Layer.build(SandboxServer.layer({ sandbox: { refreshStepMillis } }))
    const server = Context.get(context, SandboxServer.SandboxServer)
    const sandbox = Context.get(context, Sandbox.Sandbox)
    const namespace = Redis.namespace()
    yield* Effect.addFinalizer(() => Redis.dropNamespace(admin, namespace))
    const attribution = new Attribution(options.responseDelay ?? 0)
    const built: Array<Instance.Instance> = []
    for (let i = 0; i < instances; i++) {
      built.push(
        yield* Instance.build({
          baseUrl: server.url,
          client: { maxRetries: 0 },
          redis: {
            url: Redis.redisUrl,
            namespace,
            // Generous: a store timeout is a legitimate miss (C9), which the oracle would count as a missed hit.
            timeout: options.timeout ?? "2 seconds",
            generationTtl: "2 minutes"
          },
          transport: (client) => attribution.wrap(client)
        })
      )
    }
    return {
      sandbox,
      instances: built,
      attribution,
      namespace,
      pendingWhenDegraded: true,
      // The store's default invalidation bound.
      invalidationTimeoutMillis: 1_000
    }
  })

/** What the Redis-fault world saw, for the totals. */
export interface RedisFaultCounts {
  closes: number
  /** Closes whose pending invalidations were reported lost (counted in `invalidationsLost`). */
  closesWithLoss: number
  /** Closes before which the instance could not reach Redis again in time. */
  closesUnreachable: number
  fills: number
  rollbacks: number
}

/**
 * A redis-server of the test's own (maxmemory 8 MB, `noeviction`, no automatic snapshots), each
 * instance reaching it through a fault proxy of its own; the sandbox over HTTP. Faults:
 * - `degrade`: the instance's link is cut (`refuse`: every command fails at once) or paused
 *   (`timeout`: every command waits past the bound); `restore` opens it and waits until the
 *   instance reaches Redis again;
 * - `oom`: Redis is filled up to maxmemory, so it refuses writes (and scripts that write) with
 *   OOM; `oomEnd` deletes the filler;
 * - `snapshot` saves the data set; `rollback` kills Redis and restarts it from that snapshot (a
 *   restart from an older RDB, a failover to a lagging replica), then waits until every instance
 *   reaches it again;
 * - `close` (through `replace`): opens the instance's link, waits until it reaches Redis, closes
 *   the instance's layer and builds a new instance in its place.
 * Invalidations are redelivered only every 10 s, so one that goes pending stays pending for the
 * rest of the history, unless the instance closes; and an invalidation of a scope already pending
 * joins that delivery, even once Redis answers again. So whether a mutation went pending is asked
 * of its instance's store right after its invalidation (`isPending`), besides the faults it met,
 * and an instance seen with nothing pending binds everyone to what it held pending (`settled`),
 * as in `cluster`. With `near`, the stores have near caches, as in `redisNear`.
 */
export const redisFaults = (
  instances: number,
  counts: RedisFaultCounts,
  options: {
    /**
     * Near caches on (issue 12), seen through a `NearWindow`. Only for histories without `close`
     * episodes: the delivery at close is not windowed (see `Oracle.deliver`).
     */
    readonly near?: boolean | undefined
  } = {}
): Effect.Effect<World, never, Scope.Scope> =>
  Effect.gen(function*() {
    const redisServer = yield* RedisServer.makeWith({
      args: ["--maxmemory", "8mb", "--maxmemory-policy", "noeviction"]
    })
    const near = options.near === true ? new NearWindow("model", currentRead) : undefined
    if (near !== undefined) yield* near.listen
    const context = yield* Layer.build(SandboxServer.layer({ sandbox: { refreshStepMillis } }))
    const server = Context.get(context, SandboxServer.SandboxServer)
    const sandbox = Context.get(context, Sandbox.Sandbox)
    const attribution = new Attribution(20)
    const outer = yield* Effect.scope
    const slots: Array<{ proxy: FaultProxy.FaultProxy; scope: Scope.CloseableScope; instance: Instance.Instance }> = []
    /** Mutations (by `currentRead`) whose invalidation of some scope the store left pending. */
    const pendingBy = new Set<number>()
    /** Each instance's current store and the scopes it was seen leaving pending. */
    const stores: Array<{ readonly store: RedisStore.RedisStore; readonly pending: Set<string> }> = []
    /** Slots whose closed instance lost invalidations: their marks never bind everyone. */
    const undeliverable = new Set<number>()
    const build = (proxy: FaultProxy.FaultProxy, index: number) =>
      Effect.gen(function*() {
        const scope = yield* Scope.fork(outer, ExecutionStrategy.sequential)
        const redis: RedisResponseStore.Options = {
          url: `redis://127.0.0.1:${proxy.port}`,
          namespace: "model",
          timeout: "60 millis",
          invalidationTimeout: "150 millis",
          generationTtl: "2 minutes",
          retrySchedule: Schedule.spaced("10 seconds")
        }
        // Whether a mutation's invalidation went pending is asked of the store right after it
        // (as in the cluster world), not only guessed from the faults: an invalidation of a scope
        // already pending joins that scope's delivery, even once Redis answers again.
        const cache = Layer.scoped(
          CoreCache.ResponseCache,
          Effect.flatMap(
            Effect.orDie(RedisStore.make(near === undefined ? redis : { ...redis, nearCache: { capacity: 1_000 } })),
            (store) => {
              const own = { store, pending: new Set<string>() }
              stores[index] = own
              const inner = near === undefined ? store : near.attach(index, store)
              return CoreCache.make({
                ...inner,
                invalidate: (scope) =>
                  Effect.zipRight(
                    inner.invalidate(scope),
                    Effect.flatMap(FiberRef.get(currentRead), (read) =>
                      Effect.sync(() => {
                        if (!store.isPending(scope)) return
                        pendingBy.add(read)
                        own.pending.add(scope)
                      }))
                  )
              })
            }
          )
        )
        const context = yield* Layer.buildWithScope(
          Instance.layer({
            baseUrl: server.url,
            client: { maxRetries: 0 },
            cache,
            transport: (client) => attribution.wrap(client)
          }),
          scope
        )
        return { proxy, scope, instance: context }
      })
    for (let i = 0; i < instances; i++) {
      slots.push(yield* build(yield* FaultProxy.make({ host: "127.0.0.1", port: redisServer.port }), i))
    }

    /**
     * Whether the instance reaches Redis: a read of a scope of its own that counts no store error.
     * Tried for at most 3 s (node-redis reconnects with a backoff of up to 1 s).
     */
    const reaches = (instance: Instance.Instance) =>
      Effect.gen(function*() {
        const cache = Context.get(instance, CoreCache.ResponseCache)
        for (let attempt = 0; attempt < 300; attempt++) {
          const before = (yield* cache.stats).storeErrors
          yield* cache.lookup({
            scope: "model-probe",
            key: "probe",
            ttl: Duration.seconds(1),
            schema: Schema.String,
            fetch: Effect.succeed("probe")
          })
          if ((yield* cache.stats).storeErrors === before) return true
          yield* Effect.sleep("10 millis")
        }
        return false
      })
    // Every instance reads the probe scope once, so its generation key exists before any OOM.
    for (const slot of slots) yield* reaches(slot.instance)

    let fillers = 0
    const fault = (fault: Fault): Effect.Effect<void> =>
      Effect.gen(function*() {
        switch (fault._tag) {
          case "degrade":
            return yield* slots[fault.instance]!.proxy.set(
              fault.mode === "refuse" ? { _tag: "cut" } : { _tag: "pause" }
            )
          case "restore": {
            const slot = slots[fault.instance]!
            yield* slot.proxy.set({ _tag: "open" })
            yield* reaches(slot.instance)
            return
          }
          case "oom": {
            counts.fills++
            fillers = yield* redisServer.fill
            // Filled, Redis sits just below maxmemory once the refused command's buffer is freed,
            // and small writes pass again. Over it (maxmemory lowered, as when memory that cannot
            // be evicted grows), every write is refused, as the cache meets it under load.
            yield* redisServer.send(["CONFIG", "SET", "maxmemory", "1mb"])
            return
          }
          case "oomEnd": {
            if (fillers > 0) {
              yield* redisServer.send(["DEL", ...Array.from({ length: fillers }, (_, i) => `filler:${i}`)])
            }
            yield* redisServer.send(["CONFIG", "SET", "maxmemory", "8mb"])
            fillers = 0
            return
          }
          case "snapshot":
            return yield* redisServer.save
          case "rollback": {
            counts.rollbacks++
            yield* redisServer.restart
            for (const slot of slots) yield* reaches(slot.instance)
            return
          }
          case "close":
            return
        }
      })

    const replace = (index: number) =>
      Effect.gen(function*() {
        counts.closes++
        const slot = slots[index]!
        yield* slot.proxy.set({ _tag: "open" })
        const reached = yield* reaches(slot.instance)
        if (!reached) counts.closesUnreachable++
        const lostBefore = (yield* Metric.value(RedisResponseStore.invalidationsLost)).count
        yield* Scope.close(slot.scope, Exit.void)
        const lost = (yield* Metric.value(RedisResponseStore.invalidationsLost)).count > lostBefore
        if (lost) counts.closesWithLoss++
        const next = yield* build(slot.proxy, index)
        slots[index] = next
        // What the closed instance could not deliver stays local to its slot: never settled.
        if (!reached || lost) undeliverable.add(index)
        return { instance: next.instance, delivered: reached && !lost }
      })

    return {
      sandbox,
      instances: slots.map((slot) => slot.instance),
      attribution,
      pendingWhenDegraded: true,
      invalidationTimeoutMillis: 150,
      wentPending: (mutation) => pendingBy.has(mutation),
      settled: (index) => {
        const own = stores[index]
        if (own === undefined || undeliverable.has(index)) return false
        for (const scope of own.pending) if (!own.store.isPending(scope)) own.pending.delete(scope)
        return own.pending.size === 0
      },
      near,
      fault,
      replace
    }
  })

/**
 * How the near-cache world breaks its near caches on purpose, for the model's self-check: under
 * the window's recording, a layer that remembers every read answered with a value and serves it
 * ever after, forgetting a scope only on this instance's own invalidation (`ignoresPushes`: what
 * other instances change is never seen) or never (`ignoresEverything`: not even this instance's
 * own mutations).
 */
export type BrokenNear = "ignoresPushes" | "ignoresEverything"

/**
 * Every read still goes through the real store (so Redis tracks it, pushes reach the real near
 * cache, and the window sees what a correct one would do), but answers with the value remembered
 * from the first read that had one, or the first write of this instance.
 */
const brokenNear = (store: RedisStore.RedisStore, mode: BrokenNear): RedisStore.RedisStore => {
  const remembered = new Map<string, CoreCache.StoreRead<unknown>>()
  const forget = (scope: string) =>
    Effect.sync(() => {
      if (mode === "ignoresEverything") return
      for (const key of remembered.keys()) if (key.startsWith(`${scope}\u0000`)) remembered.delete(key)
    })
  return {
    ...store,
    read: <A, I>(scope: string, key: string, schema: Schema.Schema<A, I>) =>
      Effect.map(store.read(scope, key, schema), (read): CoreCache.StoreRead<A> => {
        const at = `${scope}\u0000${key}`
        const old = remembered.get(at) as CoreCache.StoreRead<A> | undefined
        if (old !== undefined) return old
        if (Option.isSome(read.value) && read.generation !== undefined) remembered.set(at, read)
        return read
      }),
    // What this instance wrote is remembered too (a correct near cache does the same, until a push).
    write: (entry) =>
      Effect.zipRight(
        store.write(entry),
        Effect.sync(() => {
          const at = `${entry.scope}\u0000${entry.key}`
          if (!remembered.has(at)) remembered.set(at, { generation: entry.generation, value: Option.some(entry.value) })
        })
      ),
    invalidate: (scope) => Effect.zipRight(forget(scope), Effect.ensuring(store.invalidate(scope), forget(scope)))
  }
}

/**
 * `redis` with a near cache in every store (issue 12): each instance's store is the Redis store
 * with `nearCache`, seen through a `NearWindow` that records what the oracle's window depends on
 * (the near caches' events, the stores' reads and invalidations). `broken` breaks the near caches
 * on purpose (the self-check).
 */
export const redisNear = (
  instances: number,
  options: {
    readonly responseDelay?: number
    readonly capacity?: number
    readonly broken?: BrokenNear | undefined
  } = {}
): Effect.Effect<World & { readonly namespace: string; readonly near: NearWindow }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const admin = yield* Redis.admin
    const context = yield* Layer.build(SandboxServer.layer({ sandbox: { refreshStepMillis } }))
    const server = Context.get(context, SandboxServer.SandboxServer)
    const sandbox = Context.get(context, Sandbox.Sandbox)
    const namespace = Redis.namespace()
    yield* Effect.addFinalizer(() => Redis.dropNamespace(admin, namespace))
    const near = new NearWindow(namespace, currentRead)
    yield* near.listen
    const attribution = new Attribution(options.responseDelay ?? 0)
    const built: Array<Instance.Instance> = []
    for (let i = 0; i < instances; i++) {
      const cache = Effect.gen(function*() {
        const store = yield* RedisStore.make({
          url: Redis.redisUrl,
          namespace,
          timeout: "2 seconds",
          generationTtl: "2 minutes",
          nearCache: { capacity: options.capacity ?? 1_000 }
        })
        return yield* CoreCache.make(near.attach(i, options.broken ? brokenNear(store, options.broken) : store))
      })
      built.push(
        yield* Instance.build({
          baseUrl: server.url,
          client: { maxRetries: 0 },
          cache: Layer.scoped(CoreCache.ResponseCache, cache),
          transport: (client) => attribution.wrap(client)
        })
      )
    }
    return {
      sandbox,
      instances: built,
      attribution,
      namespace,
      near,
      pendingWhenDegraded: true,
      invalidationTimeoutMillis: 1_000
    }
  })

/** What the Redis Cluster world did, for the totals. */
export interface ClusterFaultCounts {
  failovers: number
  forcedFailovers: number
  /** The longest a failover took, from being asked for to the replica calling itself a primary (ms). */
  longestFailoverMs: number
  clientKills: number
  /** Connections those kills closed. */
  connectionsKilled: number
  /**
   * Store reads and invalidations of the failed-over primary's slots that started less than a
   * second after the failover was asked for (while the stores may still route to the old primary).
   */
  readsDuringFailover: number
  invalidationsDuringFailover: number
}

/**
 * The local Redis Cluster (test/utils/cluster.ts, shared by the file and healthy when called):
 * each instance's store is the Redis store with `cluster: { nodes }`, in one fresh namespace;
 * the sandbox over HTTP. Faults:
 * - `failover`: a replica of the primary serving the slot of a scope this history uses (`target`
 *   0: the scope every mutation invalidates; else the stores' scopes in the order first seen,
 *   modulo) is asked to take over, with `CLUSTER FAILOVER` (the old primary stops writes until the
 *   replica caught up: nothing acknowledged is lost) or `CLUSTER FAILOVER FORCE` (no handshake:
 *   the old primary may acknowledge writes for a moment after the replica took over). It returns
 *   once asked: the commands after it run while the failover does. The next failover, and the
 *   world's close, first wait (bounded; a failover that does not happen fails the run) until it is
 *   done and every replica is in sync again;
 * - `clientKill`: every normal client of one primary is killed (`CLIENT KILL TYPE normal`): the
 *   stores' connections to it drop mid-command, and reconnect.
 * Whether a mutation's invalidation went pending is asked of each instance's store itself
 * (`isPending`, right after the invalidation), not guessed, so a mutation whose invalidation the
 * store says it delivered binds every instance at once; invalidations are redelivered every 50 ms,
 * and an instance seen with nothing pending binds everyone to what it held pending (`settled`).
 */
export const cluster = (
  instances: number,
  redisCluster: Cluster.Cluster,
  counts: ClusterFaultCounts,
  options: {
    /**
     * The model's self-check: instance 0's store drops every invalidation and says it delivered
     * it (a store that loses an invalidation without knowing); the oracle must catch it.
     */
    readonly broken?: "dropsInvalidations" | undefined
  } = {}
): Effect.Effect<World & { readonly namespace: string }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(SandboxServer.layer({ sandbox: { refreshStepMillis } }))
    const server = Context.get(context, SandboxServer.SandboxServer)
    const sandbox = Context.get(context, Sandbox.Sandbox)
    // Keys expire with the generation TTL, and the cluster is torn down with the file.
    const namespace = Redis.namespace()
    const attribution = new Attribution(20)
    /** Scopes in the order the stores first saw them (the failover's targets). */
    const scopes: Array<string> = []
    const seen = new Set<string>()
    const see = (scope: string) => {
      if (seen.has(scope)) return
      seen.add(scope)
      scopes.push(scope)
    }
    /** The last failover asked for; `promoted` ends once the replica says it is a primary. */
    let failover: {
      readonly slot: number
      readonly to: number
      readonly covers: (slot: number) => boolean
      readonly at: number
      readonly promoted: Fiber.RuntimeFiber<void>
    } | undefined
    /** Within a second of a failover being asked for (node timeout: routing may lag that long), on its slots. */
    const during = (scope: string) =>
      failover !== undefined && Date.now() - failover.at < 1_000 && failover.covers(Cluster.slotOfScope(scope))
    /**
     * Waits (bounded) until the last failover is over and the cluster is whole again: every slot
     * served by a live primary all nodes agree on, every replica (the old primary among them) in
     * sync. Not necessarily by the replica asked: on this loaded 2-core machine Redis itself may
     * fail a slow node over meanwhile (seen: the slot ended on another node), which is Redis's
     * business, not the store's; the histories' oracle judges what the store served throughout.
     */
    const settle = Effect.suspend(() => {
      const last = failover
      if (last === undefined) return Effect.void
      return Effect.gen(function*() {
        // Its own outcome (a coordinated failover Redis aborted) is the totals' business.
        yield* Fiber.await(last.promoted)
        failover = undefined
        yield* redisCluster.healthy({ synced: true, within: "15 seconds" })
      })
    })
    // Finalizers run uninterruptibly, where a timeout cannot stop what it times: a node that never
    // answers `CLUSTER NODES` (seen mid-failover) held the close, and the test, for minutes.
    yield* Effect.addFinalizer(() => Effect.interruptible(settle))
    /** Mutations (by `currentRead`) whose invalidation of some scope the store left pending. */
    const pendingBy = new Set<number>()
    const stores: Array<{ readonly store: RedisStore.RedisStore; readonly pending: Set<string> }> = []
    const built: Array<Instance.Instance> = []
    for (let i = 0; i < instances; i++) {
      const cache = Effect.gen(function*() {
        const store = yield* Effect.orDie(RedisStore.make({
          cluster: { nodes: redisCluster.seeds },
          namespace,
          // Generous, on a loaded machine: a store timeout is a legitimate miss, an invalidation
          // timeout a legitimate pending one, and either weakens what the history checks.
          timeout: "500 millis",
          invalidationTimeout: "1 second",
          generationTtl: "2 minutes",
          retrySchedule: Schedule.spaced("50 millis")
        }))
        const own = { store, pending: new Set<string>() }
        stores.push(own)
        const tracked: CoreCache.Store = {
          read: (scope, key, schema) =>
            Effect.suspend(() => {
              see(scope)
              if (during(scope)) counts.readsDuringFailover++
              return store.read(scope, key, schema)
            }),
          write: store.write,
          size: store.size,
          errors: store.errors,
          invalidate: (scope) =>
            Effect.zipRight(
              Effect.suspend(() => {
                if (during(scope)) counts.invalidationsDuringFailover++
                return options.broken === "dropsInvalidations" && i === 0 ? Effect.void : store.invalidate(scope)
              }),
              Effect.flatMap(FiberRef.get(currentRead), (read) =>
                Effect.sync(() => {
                  see(scope)
                  if (store.isPending(scope)) {
                    pendingBy.add(read)
                    own.pending.add(scope)
                  }
                }))
            )
        }
        return yield* CoreCache.make(tracked)
      })
      built.push(
        yield* Instance.build({
          baseUrl: server.url,
          client: { maxRetries: 0 },
          cache: Layer.scoped(CoreCache.ResponseCache, cache),
          transport: (client) => attribution.wrap(client)
        })
      )
    }

    const primaries = Effect.gen(function*() {
      const found: Array<number> = []
      for (const node of redisCluster.nodes) {
        if (!node.alive()) continue
        const role = yield* redisCluster.send(node.port, ["ROLE"])
        if (Array.isArray(role) && role[0] === "master") found.push(node.port)
      }
      return found.sort((a, b) => a - b)
    })

    const fault = (fault: Fault): Effect.Effect<void> =>
      Effect.gen(function*() {
        switch (fault._tag) {
          case "failover": {
            yield* settle
            // First the scope every mutation invalidates, then the scopes the stores saw, in order.
            const targets = [
              CoreUser.unnamedSessionsScope,
              ...scopes.filter((s) => s !== CoreUser.unnamedSessionsScope)
            ]
            const slot = Cluster.slotOfScope(targets[fault.target % targets.length]!)
            // After a failover, the node asked may learn of the old primary's new role a moment later.
            const { primary, replicas } = yield* redisCluster.shardOf(slot).pipe(
              Effect.filterOrFail((shard) => shard.primary !== undefined && shard.replicas.length > 0),
              Effect.retry(Schedule.spaced("20 millis")),
              Effect.timeoutFail({
                duration: "5 seconds",
                onTimeout: () => new Error(`no live primary with a replica serves slot ${slot}`)
              }),
              Effect.orDie
            )
            const to = replicas[0]!
            // Every slot of that primary (the failover moves them all), for the counts.
            const nodes = String(yield* redisCluster.send(primary!, ["CLUSTER", "NODES"]))
            const ranges = (nodes.split("\n").find((line) => line.includes("myself")) ?? "").split(" ").slice(8)
              .filter((range) => !range.startsWith("["))
              .map((range) => range.split("-").map(Number))
              .map(([from, to = from]) => [from!, to!] as const)
            const reply = yield* redisCluster.send(to, ["CLUSTER", "FAILOVER", ...(fault.forced ? ["FORCE"] : [])])
            if (reply instanceof Error) return yield* Effect.die(reply)
            if (fault.forced) counts.forcedFailovers++
            else counts.failovers++
            const at = Date.now()
            const becomesPrimary = Effect.map(
              redisCluster.send(to, ["ROLE"]),
              (role) => Array.isArray(role) && role[0] === "master"
            ).pipe(
              Effect.repeat({ schedule: Schedule.spaced("5 millis"), until: (master) => master }),
              Effect.timeoutFail({
                duration: "6 seconds",
                onTimeout: () => new Error(`the failover of slot ${slot} to ${to} did not happen`)
              })
            )
            // Watched in the background (`settle` joins it): the commands go on meanwhile. Redis
            // aborts a coordinated failover whose replica has not caught up within 5 s (seen on a
            // loaded CI machine): asked once more, as an operator would, before the run fails.
            const promoted = yield* becomesPrimary.pipe(
              Effect.orElse(() =>
                fault.forced
                  ? becomesPrimary
                  : Effect.zipRight(redisCluster.send(to, ["CLUSTER", "FAILOVER"]), becomesPrimary)
              ),
              Effect.orDie,
              Effect.zipRight(Effect.sync(() => {
                counts.longestFailoverMs = Math.max(counts.longestFailoverMs, Date.now() - at)
              })),
              // Bounded; joined by the next failover or the world's close, so a failure fails the run.
              Effect.forkDaemon
            )
            failover = {
              slot,
              to,
              at,
              promoted,
              covers: (slot) => ranges.some(([from, to]) => slot >= from && slot <= to)
            }
            return
          }
          case "clientKill": {
            const ports = yield* primaries
            const port = ports[fault.target % ports.length]!
            const killed = yield* redisCluster.send(port, ["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"])
            counts.clientKills++
            if (typeof killed === "number") counts.connectionsKilled += killed
            return
          }
          default:
            return yield* Effect.dieMessage(`the cluster world has no fault ${fault._tag}`)
        }
      })

    return {
      sandbox,
      instances: built,
      attribution,
      namespace,
      // Asked of the stores instead (`wentPending`, `settled`).
      pendingWhenDegraded: false,
      fault,
      wentPending: (mutation) => pendingBy.has(mutation),
      settled: (index) => {
        const own = stores[index]
        if (own === undefined) return false
        for (const scope of own.pending) if (!own.store.isPending(scope)) own.pending.delete(scope)
        return own.pending.size === 0
      }
    }
  })
