import type { ResponseCache } from "@tink-effect/core"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as ClusterConnection from "./redisClusterConnection.js"
import * as Connection from "./redisConnection.js"
import * as Entries from "./redisEntries.js"
import { makeErrorCount, reasonOf } from "./redisErrors.js"
import * as NearCache from "./redisNearCache.js"
import * as Redelivery from "./redisRedelivery.js"
import * as Scripts from "./redisScripts.js"
import * as ServerCheck from "./redisServerCheck.js"
import * as Settings from "./redisSettings.js"
import * as Size from "./redisSize.js"

const miss: ResponseCache.StoreRead<never> = { generation: undefined, value: Option.none() }
const missOf = <A>(): ResponseCache.StoreRead<A> => miss

/** How often a store with a near cache asks Redis for its epoch (a heartbeat). */
const heartbeatMs = 200
/** How long its near cache serves without an answer: a connection may die without a word. */
const silenceMs = 1_000

/**
 * The store, with its near cache when it has one (tests look at it).
 *
 * Not exported by the package (src/internal); left public in its declarations so the benches (B5n, B7)
 * type-check against it.
 */
export interface RedisStore extends ResponseCache.Store {
  readonly near: NearCache.NearCache | undefined
  /** Whether an invalidation of `scope` is still waiting to be delivered (tests' oracles read it). */
  readonly isPending: (scope: string) => boolean
}

/**
 * The Redis store, put together from its parts: `redisSettings` (options and defaults),
 * `redisConnection` (the node-redis client, its bounded commands and its lifecycle),
 * `redisServerCheck` (what the server is: master, epoch, ACL), `redisEntries` (the read, write
 * and bump scripts), `redisRedelivery` and `redisLastDelivery` (invalidations Redis has not
 * taken yet), `redisSize` (the count for `stats`) and, when asked for, `redisNearCache` (reads
 * remembered in process, kept fresh by `CLIENT TRACKING`). On Redis Cluster the connection is
 * `redisClusterConnection` and reads declare their entry key (see `Scripts.read`). Documented in
 * `RedisResponseStore.make`.
 *
 * Not exported by the package (src/internal); left public in its declarations so the benches (B5n, B7)
 * type-check against it.
 */
export const make = (
  options: Settings.Options = {}
): Effect.Effect<RedisStore, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* Settings.resolve(options)
    if (settings.crypto === undefined) {
      // Worded without "Redis": the README's troubleshooting test takes the first line naming it.
      yield* Effect.logInfo(
        "Response cache: values are stored in clear (no encryption key): whoever can read the store reads the cached data; set TINK_CACHE_KEY (or the store's `encryption` option) to encrypt them"
      ).pipe(Effect.annotateLogs({ store: "redis", namespace: settings.namespace }))
    }
    const errors = makeErrorCount()
    const server = yield* ServerCheck.make(settings.invalidationBound, settings.cluster !== undefined)
    const near = settings.nearCapacity === undefined
      ? undefined
      : NearCache.make({
        namespace: settings.namespace,
        capacity: settings.nearCapacity,
        silenceMs,
        cluster: settings.cluster !== undefined
      })
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())

    /**
     * The near cache serves only while the connection answers: each answer also proves that every
     * invalidation Redis pushed before it has been received (replies and pushes share the socket).
     */
    const heartbeat = (connection: Connection.Connection, cache: NearCache.NearCache) =>
      connection.evalScript("probe", Scripts.probe, [], [], settings.readBound).pipe(
        Effect.match({
          onSuccess: (reply) => {
            if (typeof reply === "string" && reply.length === 17) cache.heard(reply)
          },
          onFailure: (error) => {
            if (reasonOf(error.cause) === Scripts.notMaster) cache.lost("epoch")
          }
        })
      )

    /**
     * Redis Cluster: one round of probes, on every primary (each over its own node connection).
     * The near cache serves only while every primary answers (a silent one may hold pushes back;
     * a round that fails stops serving at once, until a later round answers: a primary paused by a
     * manual failover does not answer the probe script, a write for Redis), and everything is
     * cleared when an epoch (a failover) or the topology (a slot moved, a node added or removed)
     * changed since the last round. A primary that is no longer one clears it too, and so does a
     * topology that changed during the round.
     */
    const survey = (connection: ClusterConnection.ClusterConnection, cache: NearCache.NearCache) =>
      Effect.suspend(() => {
        const at = Date.now()
        return connection.survey(settings.readBound).pipe(
          Effect.match({
            onSuccess: ({ epochs, topology }) => cache.heardAll(epochs, topology, at),
            onFailure: (error) => {
              if (
                reasonOf(error.cause) === Scripts.notMaster ||
                (error.cause instanceof Error && error.cause.message.startsWith(ClusterConnection.movedDuringSurvey))
              ) cache.lost("topology")
              else cache.suspend()
            }
          })
        )
      })

    const cluster = settings.cluster === undefined ? undefined : yield* ClusterConnection.make(
      settings.cluster,
      settings.readBound,
      near === undefined ?
        server.probe :
        (connection) => Effect.zipRight(server.probe(connection), survey(connection, near)),
      near === undefined ? undefined : {
        pushed: near.pushed,
        lost: () => near.lost("connection"),
        moved: () => near.lost("topology")
      }
    )
    const connection: Connection.Connection = cluster !== undefined ?
      cluster :
      yield* Connection.make(
        settings.url,
        settings.readBound,
        near === undefined ? server.probe : (connection) =>
          // A new socket: what the cache remembered over the old one may have missed pushes.
          Effect.zipRight(Effect.sync(() => near.lost("connection")), server.probe(connection)).pipe(
            Effect.zipRight(heartbeat(connection, near))
          ),
        near === undefined ? undefined : { pushed: near.pushed, lost: () => near.lost("connection") }
      )
    if (near !== undefined) {
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          const timer = setInterval(
            () => runFork(cluster !== undefined ? survey(cluster, near) : heartbeat(connection, near)),
            heartbeatMs
          )
          timer.unref()
          return timer
        }),
        (timer) => Effect.sync(() => clearInterval(timer))
      )
    }
    const entries = Entries.make({
      connection,
      settings,
      server,
      errors,
      tracked: near !== undefined,
      declared: settings.cluster !== undefined
    })
    // After the connection: its last delivery at close runs while the connection is still open.
    const invalidations = yield* Redelivery.make({
      bump: entries.bump,
      connection,
      errors,
      retrySchedule: settings.retrySchedule,
      lastDeliveryWait: settings.lastDeliveryWait
    })
    const base = {
      size: Size.make(connection, settings.namespace),
      errors: errors.current,
      near,
      isPending: invalidations.isPending
    }
    if (near === undefined) {
      return {
        ...base,
        // An invalidation of the scope has not reached Redis: bypass the shared store.
        read: <A, I>(scope: string, key: string, schema: Parameters<typeof entries.read<A, I>>[2]) =>
          Effect.suspend((): Effect.Effect<ResponseCache.StoreRead<A>> =>
            invalidations.isPending(scope) ? Effect.succeed(missOf<A>()) : entries.read(scope, key, schema)
          ),
        write: (entry) =>
          Effect.suspend(() =>
            invalidations.isPending(entry.scope) ? Effect.void : Effect.asVoid(entries.write(entry))
          ),
        invalidate: invalidations.invalidate
      } satisfies RedisStore
    }
    return {
      ...base,
      // A hit of the near cache, answered with no effect step; anything else goes to `read`.
      readNow: <A>(scope: string, partition: string, requestKey: string, schema: Schema.Schema.All) => {
        if (!invalidations.isPending(scope)) {
          const remembered = near.getNow(scope, partition, requestKey, schema)
          if (remembered !== undefined) return remembered as ResponseCache.StoreRead<A>
        }
        return undefined
      },
      read: <A, I>(
        scope: string,
        key: string,
        schema: Parameters<typeof entries.read<A, I>>[2],
        parts?: ResponseCache.KeyParts
      ) => {
        const slot = NearCache.slotOf(key, schema, parts)
        return Effect.suspend((): Effect.Effect<ResponseCache.StoreRead<A>> => {
          if (invalidations.isPending(scope)) return Effect.succeed(missOf<A>())
          // Only a read of this schema (fingerprint) is served.
          const remembered = near.getNow(scope, slot.partition, slot.requestKey, schema) as
            | ResponseCache.StoreRead<A>
            | undefined
          if (remembered !== undefined) return Effect.succeed(remembered)
          const ticket = near.begin(scope)
          return Effect.map(entries.read(scope, key, schema), (read): ResponseCache.StoreRead<A> => {
            if (read.generation !== undefined) near.fillRead(ticket, slot, read.generation, read.value, read.ttlMs)
            return read
          })
        })
      },
      write: (entry) =>
        Effect.suspend(() => {
          if (invalidations.isPending(entry.scope)) return Effect.void
          const ticket = near.begin(entry.scope)
          return Effect.map(entries.write(entry), (stored) => {
            if (stored) {
              near.fillWrite(
                ticket,
                NearCache.slotOf(entry.key, entry.schema, entry.parts),
                entry.generation,
                entry.value,
                Math.floor(Duration.toMillis(entry.ttl))
              )
            } else {
              // Refused (the scope moved on, perhaps before its push reaches us) or failed.
              near.drop(entry.scope, "self")
            }
          })
        }),
      // Dropped before the bump (reads from then on go to Redis) and again once it is done:
      // a read that raced the bump may have remembered the old generation meanwhile, and Redis's
      // push of our own bump may arrive after the bump's reply.
      invalidate: (scope) =>
        Effect.suspend(() => {
          near.drop(scope, "self")
          return Effect.ensuring(invalidations.invalidate(scope), Effect.sync(() => near.drop(scope, "self")))
        })
    } satisfies RedisStore
  })
