import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import { BasicPooledClientSideCache, createCluster, type RedisArgument } from "redis"
import { bounded, commandOptions } from "./redisCommand.js"
import { closeWait, type Connection, connectWait, reconnectStrategy, type Tracking } from "./redisConnection.js"
import { reasonOf, type RedisStoreError } from "./redisErrors.js"
import * as Scripts from "./redisScripts.js"
import type { Bound } from "./redisSettings.js"
import * as RedisUrl from "./redisUrl.js"

/**
 * How soon after a node stops answering node-redis asks the cluster for its topology again, so a
 * promoted replica is found without waiting for a MOVED (node-redis's default is 5 seconds).
 */
const topologyRefreshMs = 250

/**
 * Cluster nodes reconnect faster than a single connection (at most every 250 ms): node-redis only
 * refreshes the topology on a node's reconnection attempts, and until it does, the slots of a
 * failed primary are routed to it (misses; invalidations pending) although a replica took over.
 */
const nodeReconnectStrategy = (retries: number): number =>
  Math.min(250, 20 * 2 ** Math.min(retries, 4)) + Math.floor(Math.random() * 20)

/** At most one topology refresh per this many ms is asked for after a failed command. */
const refreshAfterFailureMs = 100

/**
 * The start of the error of a survey across a rediscovery of the topology.
 *
 * @internal
 */
export const movedDuringSurvey = "ClusterMoved"

/**
 * A cluster connection with a near cache in front: it can also survey every primary at once.
 *
 * @internal
 */
export interface ClusterConnection extends Connection {
  /**
   * The probe script on every primary (each on its own node connection, so each reply proves that
   * node's earlier pushes were received), and the topology: node-redis's slot map and the one each
   * primary reports (`CLUSTER SLOTS`). Fails if any primary fails to answer in time, or is no
   * longer a primary (`Scripts.notMaster`).
   */
  readonly survey: (limit: Bound) => Effect.Effect<
    { readonly epochs: ReadonlyArray<string>; readonly topology: string },
    RedisStoreError
  >
}

/**
 * The cluster's version of `TrackingHooks` (redisConnection.ts): node-redis shares one pooled
 * provider between the connections of every node, turns tracking on in each one's handshake, and
 * calls these hooks from whichever node pushed or failed. The store cannot tell which node it was,
 * so a failure or close of any node connection clears the whole near cache, and so does every
 * topology discovery (node-redis disables the pooled cache while it rediscovers, and enables it
 * once the new node connections are up).
 */
class PooledTrackingHooks extends BasicPooledClientSideCache {
  readonly #tracking: Tracking
  constructor(tracking: Tracking) {
    super({ maxEntries: 1 })
    this.#tracking = tracking
  }
  override trackingOn(): Array<string> {
    return ["CLIENT", "TRACKING", "ON"]
  }
  override invalidate(key: RedisArgument | null): void {
    this.#tracking.pushed(key === null ? null : String(key))
  }
  override onError(): void {
    this.#tracking.lost()
  }
  override onClose(): void {
    this.#tracking.lost()
  }
  override onPoolClose(): void {
    this.#tracking.lost()
  }
  override disable(): void {
    super.disable()
    this.#tracking.moved?.()
  }
  override enable(): void {
    super.enable()
    this.#tracking.moved?.()
  }
}

/**
 * A fingerprint of a `CLUSTER SLOTS` reply: each range and its primary's address and id (replicas
 * left out: they hold no tracking of ours).
 */
const slotsFingerprint = (reply: unknown): string => {
  if (!Array.isArray(reply)) return "?"
  const ranges: Array<string> = []
  for (const range of reply) {
    if (!Array.isArray(range)) return "?"
    const primary = range[2]
    const address = Array.isArray(primary) ? `${String(primary[0])}:${String(primary[1])}:${String(primary[2])}` : "?"
    ranges.push(`${String(range[0])}-${String(range[1])}@${address}`)
  }
  return ranges.sort().join(",")
}

/** The credentials and TLS of the seed URLs, applied to every node the cluster reports. */
const nodeDefaults = (seed: string) => {
  const parsed = new URL(seed)
  return {
    ...(parsed.username === "" ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === "" ? {} : { password: decodeURIComponent(parsed.password) }),
    disableOfflineQueue: true,
    socket: parsed.protocol === "rediss:" ?
      { reconnectStrategy: nodeReconnectStrategy, tls: true as const } :
      { reconnectStrategy: nodeReconnectStrategy, tls: false as const }
  }
}

/**
 * The connection of a store on Redis Cluster: node-redis's cluster client, which routes each
 * script to the primary of its first key's slot, follows MOVED and ASK, and refreshes the topology
 * when a node stops answering. Every command keeps the store's bounded wait and fails at once
 * while its node is down (no offline queue): a read is a miss, an invalidation goes pending.
 *
 * node-redis does not retry a failed first discovery by itself: until one seed answers, a fiber
 * of this scope tries again (same backoff as a single connection), and commands fail at once.
 * `check` runs once the topology is known (on the first answering primary: it logs a replica or
 * an INFO denied by an ACL; every script checks its own node's epoch anyway).
 *
 * @internal
 */
export const make = (
  seeds: ReadonlyArray<string>,
  readBound: Bound,
  check: (connection: ClusterConnection) => Effect.Effect<void>,
  tracking?: Tracking
): Effect.Effect<ClusterConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const addresses = seeds.map(RedisUrl.address).join(", ")
    const readyWaiters = new Set<() => void>()
    const cluster = yield* Effect.acquireRelease(
      Effect.sync((): ReturnType<typeof createCluster> =>
        tracking === undefined ?
          createCluster({
            rootNodes: seeds.map((url) => ({ url })),
            defaults: nodeDefaults(seeds[0]!),
            topologyRefreshOnReconnectionAttemptStrategy: topologyRefreshMs
          }) :
          // RESP3: each node's invalidations arrive on its own connection, in order with its replies.
          createCluster({
            rootNodes: seeds.map((url) => ({ url })),
            defaults: nodeDefaults(seeds[0]!),
            topologyRefreshOnReconnectionAttemptStrategy: topologyRefreshMs,
            RESP: 3,
            clientSideCache: new PooledTrackingHooks(tracking)
          }) as unknown as ReturnType<typeof createCluster>
      ),
      (cluster) =>
        Effect.interruptible(Effect.tryPromise(() => cluster.isOpen ? cluster.close() : Promise.resolve())).pipe(
          Effect.timeoutFail({ duration: closeWait, onTimeout: () => "timeout" }),
          Effect.catchAll(() => Effect.sync(() => cluster.destroy()))
        )
    )

    // A failed command may mean the topology moved (a failover, a node gone): ask for it again at
    // once (node-redis shares one refresh between callers) instead of waiting for a MOVED or for
    // the dead node's next reconnection attempt, so invalidations pending on it are redelivered to
    // the new primary sooner.
    let lastRefresh = 0
    const refresh = () => {
      const now = Date.now()
      if (now - lastRefresh < refreshAfterFailureMs || !cluster.isOpen) return
      lastRefresh = now
      cluster._slots.rediscover().catch(() => undefined)
    }
    const send = (firstKey: string | undefined, args: ReadonlyArray<string>, limit: Bound) =>
      cluster.isReady ?
        cluster.sendCommand(firstKey, false, [...args], commandOptions(limit)).catch((error: unknown) => {
          if (!(error instanceof Error && error.message.startsWith("NOSCRIPT"))) refresh()
          throw error
        }) :
        Promise.reject(new Error("ClusterNotReady the cluster's topology is not known yet"))

    /** node-redis's own slot map, as ranges of one primary each. */
    const viewFingerprint = (): string => {
      const ranges: Array<string> = []
      let from = 0
      const slots = cluster.slots
      for (let slot = 1; slot <= slots.length; slot++) {
        if (slot < slots.length && slots[slot]?.master === slots[from]?.master) continue
        ranges.push(`${from}-${slot - 1}@${slots[from]?.master.address ?? "?"}`)
        from = slot
      }
      return ranges.join(",")
    }

    const survey = async () => {
      if (!cluster.isReady) throw new Error("ClusterNotReady the cluster's topology is not known yet")
      const masters = cluster.masters
      const view = viewFingerprint()
      const replies = await Promise.all(masters.map(async (master) => {
        const client = await cluster.nodeClient(master)
        const [epoch, slots] = await Promise.all([
          Scripts.run(client, Scripts.probe, [], []),
          client.sendCommand(["CLUSTER", "SLOTS"])
        ])
        if (typeof epoch !== "string" || epoch.length !== 17) throw new Error(`ERR unexpected probe reply`)
        return { epoch, slots: `${master.address}=${slotsFingerprint(slots)}` }
      }))
      // node-redis may have moved on meanwhile: a survey across a rediscovery proves nothing.
      if (viewFingerprint() !== view || cluster.masters !== masters) {
        throw new Error(`${movedDuringSurvey} the topology changed during the survey`)
      }
      return {
        epochs: replies.map((reply) => reply.epoch),
        topology: `${view}|${replies.map((reply) => reply.slots).join("|")}`
      }
    }

    const connection: ClusterConnection = {
      isReady: () => cluster.isReady,
      ready: Effect.async<void>((resume) => {
        if (cluster.isReady) return resume(Effect.void)
        const onReady = () => {
          readyWaiters.delete(onReady)
          resume(Effect.void)
        }
        readyWaiters.add(onReady)
        return Effect.sync(() => readyWaiters.delete(onReady))
      }),
      send: (operation, args, limit = readBound) => bounded(operation, () => send(undefined, args, limit), limit),
      primaries: () =>
        cluster.isReady ?
          cluster.masters.map((master) => (operation: string, args: ReadonlyArray<string>, limit = readBound) =>
            bounded(operation, () => cluster.nodeClient(master).then((client) => client.sendCommand([...args])), limit)
          ) :
          [],
      evalScript: (operation, script, keys, args, limit = readBound) =>
        bounded(
          operation,
          () => Scripts.run({ sendCommand: (command) => send(keys[0], command, limit) }, script, keys, args),
          limit
        ),
      survey: (limit) => bounded("probe", survey, limit)
    }

    // Without listeners node-redis's 'error' events would crash the process. A node lost is
    // logged once, and its return; the cluster as a whole once.
    const down = new Set<string>()
    cluster.on("error", (error: unknown) => {
      runFork(
        Effect.logDebug("Redis response cache: Redis Cluster topology refresh failed").pipe(
          Effect.annotateLogs("reason", reasonOf(error))
        )
      )
    })
    cluster.on("node-error", (error: unknown, node: { host?: string; port?: number }) => {
      const address = `${node?.host ?? "?"}:${node?.port ?? "?"}`
      if (down.has(address)) return
      down.add(address)
      runFork(
        Effect.logWarning(
          `Redis response cache: Redis Cluster node ${address} lost, serving misses for its slots until it or a replica answers`
        ).pipe(Effect.annotateLogs({ address, reason: reasonOf(error) }))
      )
    })
    cluster.on("node-ready", (node: { host?: string; port?: number }) => {
      const address = `${node?.host ?? "?"}:${node?.port ?? "?"}`
      if (!down.delete(address)) return
      runFork(Effect.logInfo(`Redis response cache: Redis Cluster node ${address} back`))
    })

    // The first discovery: retried until a seed answers, for as long as the store lives.
    const discover = (attempt: number): Effect.Effect<void> =>
      Effect.tryPromise(() => cluster.connect()).pipe(
        Effect.matchEffect({
          onSuccess: () =>
            Effect.zipRight(
              Effect.sync(() => readyWaiters.forEach((waiter) => waiter())),
              check(connection)
            ),
          onFailure: (error) =>
            Effect.zipRight(
              attempt === 0 ?
                Effect.logWarning(
                  `Redis response cache: no Redis Cluster seed node (${addresses}) answers yet, serving misses until one does`
                ).pipe(Effect.annotateLogs("reason", reasonOf(error.error))) :
                Effect.void,
              Effect.delay(Effect.suspend(() => discover(attempt + 1)), Duration.millis(reconnectStrategy(attempt)))
            )
        })
      )
    const discovery = yield* Effect.forkScoped(discover(0))
    // Building waits for the first discovery (bounded), so a fresh store can serve hits at once.
    yield* Fiber.await(discovery).pipe(Effect.timeout(connectWait), Effect.ignore)
    return connection
  })
