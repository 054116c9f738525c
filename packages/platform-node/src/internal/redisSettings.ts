import { CachePolicy } from "@tink-effect/core"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as CacheCrypto from "./cacheCrypto.js"
import * as RedisUrl from "./redisUrl.js"

/** The public options, documented where users read them. @internal */
export type Options = import("../RedisResponseStore.js").Options

/** A wait for a timer of our own; `undefined` means no timer at all. @internal */
export interface Bound {
  readonly ms: number | undefined
}

/** The options checked and resolved, defaults applied. @internal */
export interface Settings {
  readonly url: string
  /**
   * The seed nodes of a Redis Cluster, checked; `undefined`: a single Redis at `url`. With them,
   * `url` is unused.
   */
  readonly cluster: ReadonlyArray<string> | undefined
  readonly namespace: string
  /** The wait of every command but an invalidation. */
  readonly readBound: Bound
  readonly invalidationBound: Bound
  /** The generation key's TTL in milliseconds, as the scripts take it. */
  readonly generationTtlMs: string
  readonly retrySchedule: Schedule.Schedule<unknown, unknown>
  /** How long the last delivery at close may hold closing up. */
  readonly lastDeliveryWait: Duration.Duration
  /** The near cache's capacity; `undefined`: no near cache. */
  readonly nearCapacity: number | undefined
  /** Seals and opens values; `undefined`: values are stored in clear. */
  readonly crypto: CacheCrypto.CacheCrypto | undefined
  /** Leave credentials' `fields` out of stored values. */
  readonly omitCredentialFields: boolean
}

const defaultUrl = "redis://127.0.0.1:6379"

const defaultSchedule: Schedule.Schedule<unknown, unknown> = Schedule.union(
  Schedule.exponential("50 millis"),
  Schedule.spaced("5 seconds")
)

/**
 * On a cluster an outage is usually a failover of a few seconds, and until an invalidation that
 * went pending is redelivered other instances may serve the old entry: retries stay close.
 */
const clusterDefaultSchedule: Schedule.Schedule<unknown, unknown> = Schedule.union(
  Schedule.exponential("50 millis"),
  Schedule.spaced("250 millis")
)

/**
 * The last delivery at close takes `invalidationTimeout`, but at least long enough for a
 * reconnection (node-redis backs off up to ~1 s) and at most 5 s.
 */
const lastDeliveryFloor = Duration.seconds(2)
const lastDeliveryCap = Duration.seconds(5)

/** setTimeout takes at most 2^31 - 1 ms; an infinite wait means no timer at all. */
const bound = (duration: Duration.Duration): Bound => ({
  ms: Duration.isFinite(duration) ? Math.min(2 ** 31 - 1, Duration.toMillis(duration)) : undefined
})

/**
 * Checks the URL before node-redis sees it (its errors can quote the URL, password included) and
 * applies the defaults. A malformed URL is a `ConfigError` at `url` that never quotes it.
 *
 * @internal
 */
export const resolve = (options: Options): Effect.Effect<Settings, ConfigError.ConfigError> =>
  Effect.suspend(() => {
    const url = options.url === undefined
      ? defaultUrl
      : Redacted.isRedacted(options.url)
      ? Redacted.value(options.url)
      : options.url
    const problem = RedisUrl.problem(url)
    if (problem !== undefined) return Effect.fail(ConfigError.InvalidData(["url"], `The Redis URL ${problem}`))
    let cluster: Array<string> | undefined
    if (options.cluster !== undefined) {
      if (options.url !== undefined) {
        return Effect.fail(
          ConfigError.InvalidData(["cluster"], "Give either `url` (one Redis) or `cluster` (Redis Cluster), not both")
        )
      }
      cluster = []
      for (const [i, node] of options.cluster.nodes.entries()) {
        const nodeUrl = Redacted.isRedacted(node) ? Redacted.value(node) : node
        const nodeProblem = /^unix:/i.test(nodeUrl)
          ? "must be redis:// or rediss:// (a cluster node is reached over TCP)"
          : RedisUrl.problem(nodeUrl)
        if (nodeProblem !== undefined) {
          return Effect.fail(
            ConfigError.InvalidData(["cluster", "nodes", String(i)], `The Redis Cluster node URL ${nodeProblem}`)
          )
        }
        cluster.push(nodeUrl)
      }
      if (cluster.length === 0) {
        return Effect.fail(ConfigError.InvalidData(["cluster", "nodes"], "Redis Cluster needs at least one seed node"))
      }
    }
    const nearCapacity = options.nearCache?.capacity
    if (nearCapacity !== undefined && !(Number.isSafeInteger(nearCapacity) && nearCapacity >= 1)) {
      return Effect.fail(
        ConfigError.InvalidData(
          ["nearCache", "capacity"],
          "The near cache's capacity must be a whole number of at least 1"
        )
      )
    }
    let crypto: CacheCrypto.CacheCrypto | undefined
    if (options.encryption !== undefined) {
      const made = CacheCrypto.make(options.encryption.keys, ["encryption", "keys"])
      if (Either.isLeft(made)) return Effect.fail(made.left)
      crypto = made.right
    }
    const invalidationTimeout = Duration.decode(options.invalidationTimeout ?? Duration.seconds(1))
    const generationTtl = options.generationTtl ?? Duration.sum(CachePolicy.longestTtl(), Duration.hours(1))
    return Effect.succeed({
      url,
      cluster,
      namespace: options.namespace ?? "tink",
      readBound: bound(Duration.decode(options.timeout ?? Duration.millis(20))),
      invalidationBound: bound(invalidationTimeout),
      generationTtlMs: String(Math.max(1, Math.ceil(Duration.toMillis(generationTtl)))),
      retrySchedule: options.retrySchedule ?? (cluster === undefined ? defaultSchedule : clusterDefaultSchedule),
      lastDeliveryWait: Duration.min(Duration.max(invalidationTimeout, lastDeliveryFloor), lastDeliveryCap),
      nearCapacity,
      crypto,
      omitCredentialFields: options.omitCredentialFields === true
    })
  })
