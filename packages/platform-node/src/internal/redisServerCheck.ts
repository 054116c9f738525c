import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import type { Connection } from "./redisConnection.js"
import { reasonOf } from "./redisErrors.js"
import * as Scripts from "./redisScripts.js"
import type { Bound } from "./redisSettings.js"

/**
 * What the store learns of the server it talks to, for its logs only: nothing here gates a
 * command, since every script checks the epoch itself, atomically (see redisScripts.ts).
 *
 * @internal
 */
export interface ServerCheck {
  /**
   * Asks a new connection's server for its epoch: an ACL that denies INFO, a URL that points at
   * a replica, or a change of data set show up in the logs when the connection is made, not at
   * the first read.
   */
  readonly probe: (connection: Connection) => Effect.Effect<void>
  /** Notes the generation of a read's reply: a change of data set is logged once. */
  readonly noteGeneration: (generation: string) => void
  /** Logs once, until the next change of data set, that Redis refuses the cache's scripts. */
  readonly alarm: (reason: string) => Effect.Effect<void>
}

/**
 * `cluster`: the store talks to several primaries, each with its own epoch. A change of data set
 * is then an epoch never seen before showing up once every primary's has been seen (a failover or
 * a restart): logged once per new epoch.
 *
 * @internal
 */
export const make = (probeBound: Bound, cluster = false): Effect.Effect<ServerCheck> =>
  Effect.gen(function*() {
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    /** The epoch prefix (`<epoch>:`) of the last probe or read, to log a change of data set once. */
    let seenEpoch: string | undefined
    /** The alarm (a replica, INFO denied) already logged: once per occurrence, not once per read. */
    let alarmed: string | undefined

    /** Cluster: every epoch seen (bounded), and how many primaries the cluster had at the probe. */
    const seenEpochs = new Set<string>()
    let primaries = Number.POSITIVE_INFINITY

    /** Notes the epoch of a reply; a change (restart, failover, resync) is logged once. */
    const noteEpoch = (prefix: string) => {
      let changed = seenEpoch !== undefined && seenEpoch !== prefix
      if (cluster) {
        if (seenEpochs.has(prefix)) return
        if (seenEpochs.size >= 1024) seenEpochs.clear()
        seenEpochs.add(prefix)
        changed = seenEpochs.size > primaries
      }
      if (changed) {
        runFork(Effect.logWarning(
          "Redis response cache: Redis now holds another data set (restart, failover or resync); entries cached before are ignored"
        ))
      }
      seenEpoch = prefix
      alarmed = undefined
    }

    const alarm = (reason: string): Effect.Effect<void> => {
      if (alarmed === reason) return Effect.void
      alarmed = reason
      return reason === "NOPERM"
        ? Effect.logError(
          "Redis response cache: the Redis user may not run the cache's scripts (EVALSHA and EVAL, and from them INFO, GET, SET, PEXPIRE, PTTL, DEL; INFO is in the ACL category @dangerous); serving misses until it may"
        )
        : Effect.logWarning(
          "Redis response cache: this Redis is not a master (a replica, or a failover under way); serving misses and holding invalidations until it is"
        )
    }

    const probe = (connection: Connection): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!cluster) return probeOne(connection)
        // Every primary's epoch is learnt now, so a new one later is a change of data set.
        const each = connection.primaries()
        primaries = Math.max(1, each.length)
        return Effect.zipRight(
          probeOne(connection),
          Effect.forEach(each, (send) =>
            send("probe", ["EVAL", Scripts.probe.source, "0"], probeBound).pipe(
              Effect.match({
                onFailure: () => undefined,
                onSuccess: (reply) => {
                  if (typeof reply === "string" && reply.length === 17) noteEpoch(reply)
                }
              })
            ), { concurrency: "unbounded", discard: true })
        )
      })

    const probeOne = (connection: Connection): Effect.Effect<void> =>
      connection.evalScript("probe", Scripts.probe, [], [], probeBound).pipe(
        Effect.matchEffect({
          onSuccess: (reply) => {
            if (typeof reply === "string" && reply.length === 17) {
              noteEpoch(reply)
              return Effect.void
            }
            return Effect.logError("Redis response cache: unexpected reply from Redis; serving misses")
          },
          onFailure: (error) => {
            const reason = reasonOf(error.cause)
            if (reason === "NOPERM" || reason === Scripts.notMaster) return alarm(reason)
            // A dropped socket is handled by the next one.
            if (!connection.isReady()) return Effect.void
            return Effect.logError("Redis response cache: checking the Redis server failed; serving misses").pipe(
              Effect.annotateLogs("reason", reason)
            )
          }
        })
      )

    return {
      probe,
      noteGeneration: (generation) => {
        if (cluster || seenEpoch === undefined || !generation.startsWith(seenEpoch)) noteEpoch(generation.slice(0, 17))
      },
      alarm
    }
  })
