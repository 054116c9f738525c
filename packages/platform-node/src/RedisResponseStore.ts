/**
 * A store for the response cache of `@tink-effect/core` in Redis (node-redis), seen by every
 * process that shares the Redis: a mutation in one process invalidates the user's cached reads
 * for all of them. `layer` provides core's `ResponseCache.ResponseCache` over it.
 *
 * Layout, per namespace `ns` (default `"tink"`):
 * - `ns:gen:{scope}` holds the scope's generation, `<epoch>:<integer>`: a random integer when
 *   created, moved on by one atomic script on invalidation (no key is scanned), kept alive
 *   longer than any entry under it. The epoch names the data set: the master's replication id,
 *   which Redis changes on every restart and every promotion. Each script reads it itself (INFO
 *   replication) and refuses to run on a replica, so generations written before a rollback are
 *   replaced, never trusted.
 * - `ns:e:{scope}:<generation>:<request key>` holds the JSON of the schema-encoded value, with
 *   the entry's TTL; with `encryption`, that JSON sealed with AES-256-GCM, bound to the key. The `{scope}` hash tag keeps a scope's keys on one cluster slot.
 *
 * Keys and values hold no token or secret: scopes are user ids or token hashes, keys are
 * method, path and query.
 *
 * @since 0.2.0
 */
import { ResponseCache } from "@tink-effect/core"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as CacheCrypto from "./internal/cacheCrypto.js"
import * as RedisMetrics from "./internal/redisMetrics.js"
import * as RedisStore from "./internal/redisStore.js"
import * as RedisUrl from "./internal/redisUrl.js"

/**
 * Options of the Redis store; every one has a default.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /**
   * `redis[s]://[[user][:password]@]host[:port][/db]` or
   * `unix://[[user][:password]@]/path/to/socket[?db=N]`; default `redis://127.0.0.1:6379`. The
   * URL of the master (a replica is refused). May be `Redacted`, since it can hold a password. A
   * malformed URL fails the store's construction with a `ConfigError` (path `url`) that never
   * quotes it.
   */
  readonly url?: string | Redacted.Redacted<string> | undefined
  /**
   * Redis Cluster instead of one Redis: `nodes` are seed URLs (`redis[s]://[[user][:password]@]host[:port]`,
   * each may be `Redacted`); any one that answers gives the topology, and the credentials and TLS
   * of the first apply to every node. Give either `url` or `cluster`. Read it from the environment
   * with `redisCluster` (e.g. `TINK_REDIS_CLUSTER_NODES`). A malformed URL fails the store's
   * construction with a `ConfigError` at `cluster.nodes.<index>` that never quotes it.
   *
   * A scope's keys share one hash slot (`{scope}` hash tags) and every script declares every key
   * it touches, so each command runs on one primary; node-redis follows MOVED and ASK and refreshes
   * the topology when a node stops answering. The store keeps its bounded waits and fails open:
   * while a scope's primary is down or being failed over, its reads are misses served from Tink
   * and its invalidations go pending. Each script checks the epoch of the primary it runs on, so
   * after a failover or a slot moving to another primary the scope's old entries are never served
   * (the scope starts cold). One window remains: an instance that could not deliver an
   * invalidation (it still routed the slot to the failed primary) redelivers it on
   * `retrySchedule`, and until then other instances already on the new primary may serve the
   * user's entries from before the mutation; so on a cluster the default `retrySchedule` is
   * capped at 250 milliseconds (keep a custom one as short). The near cache works on a cluster too
   * (see `nearCache` for what clears it there).
   *
   * @since 0.2.0
   */
  readonly cluster?: {
    readonly nodes: readonly [
      string | Redacted.Redacted<string>,
      ...ReadonlyArray<string | Redacted.Redacted<string>>
    ]
  } | undefined
  /** Prefix of every key, so several caches (or other data) can share one Redis; default `"tink"`. */
  readonly namespace?: string | undefined
  /**
   * How long a cache command may take before it is given up (a read becomes a miss, a write is
   * dropped, an invalidation goes pending); default 20 milliseconds: at 5 ms, 64 concurrent reads
   * on a local Redis already timed out one time in four.
   */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * How long an invalidation may take before it is applied locally and redelivered in the
   * background; default 1 second. Longer than `timeout` on purpose: while an invalidation is
   * pending, other instances may still serve the old entry, and mutations are rare and slow.
   */
  readonly invalidationTimeout?: Duration.DurationInput | undefined
  /**
   * How long an idle generation key lives; it must outlive every entry under it. Default: the
   * longest TTL of the default policy plus one hour (25 hours).
   */
  readonly generationTtl?: Duration.DurationInput | undefined
  /**
   * When to retry an invalidation that could not be delivered. Default: exponential from 50
   * milliseconds, capped at 5 seconds, for ever; on a cluster capped at 250 milliseconds, since
   * other instances may serve the old entry until it is delivered (see `cluster`).
   */
  readonly retrySchedule?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * A near cache: up to `capacity` reads remembered in this process (least recently used
   * evicted), so a repeated hit does no I/O at all. Off by default. It is kept fresh by Redis
   * itself (RESP3 `CLIENT TRACKING`): when another instance invalidates a user, Redis pushes that
   * to this one, which forgets the user's reads.
   *
   * **Weaker than the store without it.** A hit served from the near cache does not ask Redis,
   * so a read on this instance that starts after another instance's mutation has returned can
   * still get the data from before the mutation, until Redis's push reaches this instance: about
   * one network round trip on a healthy connection (median well under a millisecond on
   * loopback; see B7 in bench/README.md). If the connection dies silently, the near cache stops
   * serving once Redis has not answered for 1 second (it is asked every 200 ms). Reads on the
   * instance that made the mutation always see it: its own near cache drops the user before the
   * mutation returns. A dropped or re-made connection, a flush of the database or a change of
   * data set (restart, failover) empties the near cache.
   *
   * On Redis Cluster, tracking is per node connection: each primary pushes the invalidations of
   * its own slots over this instance's connection to it. Every 200 ms every primary is asked for
   * its epoch and its slot map; the near cache serves only while the last round was answered by
   * all of them (within the read `timeout`) and no more than 1 second ago, and it is emptied whole when any node connection fails or closes, an epoch changes (a
   * failover), the slot map changes (a slot migrated, a failover, a node added or removed),
   * node-redis rediscovers the topology, or a primary is no longer one. So after a failover that
   * the old primary took part in (`CLUSTER FAILOVER`), a hit may still come from before a
   * mutation made on the new primary for at most one probe interval (about 200 ms, plus the read
   * `timeout`); a primary that dies stops the near cache at once (its connection fails), and one
   * that goes silent within 1 second, before a replica can be promoted (after
   * `cluster-node-timeout`, 15 seconds by default: keep it above 1 second).
   *
   * The connection then speaks RESP3 and the Redis user also needs `CLIENT` (`+client|tracking`;
   * `CLIENT TRACKING ON` is sent on every connection; on a cluster, also `CLUSTER SLOTS` on every
   * primary and the probe script). Capacity: a whole number, at least 1.
   */
  readonly nearCache?: { readonly capacity: number } | undefined
  /**
   * Leave every credential's `fields` (the user's login fields at the bank, such as a username
   * that may be a personal identity number) out of the values stored in Redis: for callers that
   * never read `fields`. A credential then read from Redis (a hit from another instance or after
   * a near-cache eviction) has `fields: {}`; the read that fetched it from Tink, and near-cache
   * hits of this instance, still carry them. Default `false`.
   *
   * @since 0.2.0
   */
  readonly omitCredentialFields?: boolean | undefined
  /**
   * Encrypt every value stored in Redis (AES-256-GCM) under `keys`: each 32 bytes, or their
   * base64, `Redacted`. The first key seals every write; all of them open reads, so a key is
   * rotated by putting the new one first and dropping the old one once its entries have expired
   * (at most the longest TTL). Each value is sealed with a fresh random 96-bit nonce and the
   * entry's full Redis key as associated data: a value moved to another key (another user's),
   * truncated, altered, sealed under a key no longer listed, or stored in clear is a miss,
   * replaced by the fresh value, counted in `valuesRefused` and in `stats.storeErrors`, and
   * logged at most once a minute. A malformed key fails the store's construction with a
   * `ConfigError` at `encryption.keys.<index>` that never quotes it.
   *
   * Omitted: values are stored in clear, as JSON (logged once when the store starts).
   *
   * @since 0.2.0
   */
  readonly encryption?: {
    readonly keys: readonly [
      Redacted.Redacted<Uint8Array | string>,
      ...ReadonlyArray<Redacted.Redacted<Uint8Array | string>>
    ]
  } | undefined
}

/**
 * A store in Redis. It owns a node-redis connection, closed when the scope closes.
 *
 * Redis failing never fails a read: each command waits at most `timeout`, a read that fails is
 * a miss whose result is not stored, a write that fails is dropped. An invalidation that cannot
 * be delivered is remembered at once: reads of that user bypass Redis until a background fiber
 * (retrying on `retrySchedule`) has delivered it. Each failure counts in the cache's
 * `stats.storeErrors`; undelivered invalidations are logged with a short hash of the scope.
 *
 * An invalidation Redis refuses to write (out of memory at `maxmemory` under `noeviction`)
 * deletes the scope's generation key instead, which Redis allows: old entries are unreachable
 * for every instance, and the scope is not cached until Redis accepts writes again (counted in
 * `invalidationFallbacks`, logged).
 *
 * Generations carry the epoch of the data set they were written in (the master's replication
 * id, which Redis draws anew at every start and every promotion), and every script checks it in
 * the same atomic step as the data it reads or writes, on the server it actually reaches: on a
 * replica reads are misses and invalidations stay pending; generations of another epoch are
 * never trusted. So a Redis restarted from an older snapshot or AOF, a failover to a lagging
 * replica, or a master demoted, resynced from one and promoted again, never brings deleted data
 * back. Not covered: keys restored into a running master by hand (RESTORE, a backup tool
 * writing keys), which Redis cannot tell from writes.
 *
 * When the scope closes, pending invalidations get one last bounded delivery (at least 2 s, at
 * most 5 s), including those that fail while it runs; whatever is still pending then, and any
 * invalidation asked for after close, is logged as an error and counted in `invalidationsLost`.
 *
 * The Redis user needs EVALSHA and EVAL, and, from scripts, INFO (ACL category `@dangerous`),
 * GET, SET, PEXPIRE, PTTL, DEL; SCAN for `stats`. Without INFO every read is a miss, logged as
 * an error when the connection is made.
 *
 * On Redis Cluster (`cluster`), each script runs on the primary of the user's slot and checks that
 * primary's epoch: a failover (the promoted replica has a new replication id) or a slot moved to
 * another primary makes the users of those slots start cold, never serve data from before. See the
 * `cluster` option for the rest; the Redis user also needs `CLUSTER SLOTS` (`+cluster|slots`) for
 * node-redis to learn the topology.
 *
 * A read is one round trip (a Lua script reads the generation and the entry; on a cluster, two the
 * first time a process reads a user whose generation it has not seen), a write and an
 * invalidation are one script each; with `nearCache`, a repeated read is none (see the option). `size` counts the namespace's entries with SCAN, stopping at
 * 100 000: it is meant for occasional `stats`, not for hot paths.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<ResponseCache.Store, ConfigError.ConfigError, Scope.Scope> = RedisStore.make

/**
 * The response cache of `@tink-effect/core` over a store in Redis, shared by every process using
 * the same Redis and namespace. A malformed URL fails the layer with a `ConfigError`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<ResponseCache.ResponseCache, ConfigError.ConfigError> =>
  ResponseCache.layerStore(make(options))

/**
 * `layer` with its options read from configuration: each field a `Config` (or the whole options
 * one `Config`), so the application decides the names. Read the URL with `redisUrl`: it is
 * `Redacted`, and a malformed one fails naming your key (a URL from another `Config` fails naming
 * `url`).
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { RedisResponseStore } from "@tink-effect/platform-node"
 *
 * const CacheLive = RedisResponseStore.layerConfig({
 *   url: RedisResponseStore.redisUrl("TINK_REDIS_URL"),
 *   namespace: Config.withDefault(Config.string("TINK_CACHE_NAMESPACE"), "tink")
 * })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options>
): Layer.Layer<ResponseCache.ResponseCache, ConfigError.ConfigError> =>
  ResponseCache.layerStore(Effect.flatMap(Config.unwrap(options), make))

/**
 * A Redis URL read from configuration key `name`, as `Redacted` (it may hold a password). A
 * malformed URL fails with a `ConfigError` naming `name`, never quoting the URL.
 *
 * @since 0.2.0
 * @category config
 */
export const redisUrl = (name: string): Config.Config<Redacted.Redacted<string>> =>
  Config.redacted(name).pipe(
    Config.mapOrFail((url) => {
      const problem = RedisUrl.problem(Redacted.value(url))
      return problem === undefined
        ? Either.right(url)
        : Either.left(ConfigError.InvalidData([name], `The Redis URL ${problem}`))
    })
  )

/**
 * The seed nodes of a Redis Cluster read from configuration key `name` (e.g.
 * `TINK_REDIS_CLUSTER_NODES`): comma-separated `redis[s]://` URLs, as the store's `cluster` option,
 * each `Redacted` (they may hold a password). A malformed one fails with a `ConfigError` naming
 * `name`, never quoting it.
 *
 * @example
 * ```ts
 * import { RedisResponseStore } from "@tink-effect/platform-node"
 *
 * // TINK_REDIS_CLUSTER_NODES=redis://10.0.0.1:6379,redis://10.0.0.2:6379
 * const CacheLive = RedisResponseStore.layerConfig({
 *   cluster: RedisResponseStore.redisCluster("TINK_REDIS_CLUSTER_NODES")
 * })
 * ```
 *
 * @since 0.2.0
 * @category config
 */
export const redisCluster = (
  name: string
): Config.Config<
  { readonly nodes: readonly [Redacted.Redacted<string>, ...ReadonlyArray<Redacted.Redacted<string>>] }
> =>
  Config.redacted(name).pipe(
    Config.mapOrFail((value) => {
      const parts = Redacted.value(value).split(",").map((part) => part.trim()).filter((part) => part !== "")
      if (parts.length === 0) {
        return Either.left(ConfigError.InvalidData([name], "Redis Cluster needs at least one seed node URL"))
      }
      for (let i = 0; i < parts.length; i++) {
        const problem = /^unix:/i.test(parts[i]!) ? "must be redis:// or rediss://" : RedisUrl.problem(parts[i]!)
        if (problem !== undefined) {
          return Either.left(
            ConfigError.InvalidData(
              [name],
              `The Redis Cluster node URL${parts.length > 1 ? ` at position ${i + 1}` : ""} ${problem}`
            )
          )
        }
      }
      const [first, ...rest] = parts.map((part) => Redacted.make(part))
      return Either.right({ nodes: [first!, ...rest] as const })
    })
  )

/**
 * Cache keys read from configuration key `name`: base64 of 32 bytes each, comma-separated,
 * newest first (`TINK_CACHE_KEY=<new>,<old>` while rotating), as `Redacted`. A malformed one fails
 * with a `ConfigError` naming `name`, never quoting it. Generate one with
 * `node -e "console.log(require('node:crypto').randomBytes(32).toString('base64'))"`.
 *
 * @since 0.2.0
 * @category config
 */
export const cacheKeys = (
  name: string
): Config.Config<readonly [Redacted.Redacted<string>, ...ReadonlyArray<Redacted.Redacted<string>>]> =>
  Config.redacted(name).pipe(
    Config.mapOrFail((value) => {
      const parts = Redacted.value(value).split(",").map((part) => part.trim())
      for (let i = 0; i < parts.length; i++) {
        const problem = CacheCrypto.decodeKey(parts[i]!)
        if (Either.isLeft(problem)) {
          return Either.left(
            ConfigError.InvalidData(
              [name],
              `The cache key${parts.length > 1 ? ` at position ${i + 1}` : ""} ${problem.left}`
            )
          )
        }
      }
      const [first, ...rest] = parts.map((part) => Redacted.make(part))
      return Either.right([first!, ...rest] as const)
    })
  )

/**
 * Redis values refused because they did not open under the cache keys (see the `encryption`
 * option), by `reason`: `forged` (moved to another key, truncated or altered), `unknownKey` (sealed
 * under a key no longer listed), `clear` (stored before encryption was turned on). Each was read as
 * a miss. Metric `tink_cache_values_refused_total`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const valuesRefused: Metric.Metric.Counter<number> = RedisMetrics.valuesRefused

/**
 * Invalidations Redis refused to write (e.g. out of memory at `maxmemory` under `noeviction`)
 * and that were applied by deleting the scope's generation key instead. Non-zero means Redis is
 * full: give it memory or an eviction policy. Metric `tink_cache_invalidation_fallbacks_total`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const invalidationFallbacks: Metric.Metric.Counter<number> = RedisMetrics.invalidationFallbacks

/**
 * Users (or sessions without a user id) whose pending invalidation could not be delivered before
 * the store closed: other instances may serve their old entries until their TTL. Metric
 * `tink_cache_invalidations_lost_total`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const invalidationsLost: Metric.Metric.Counter<number> = RedisMetrics.invalidationsLost
