import type { ResponseCache } from "@tink-effect/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Connection } from "./redisConnection.js"
import * as DecodeMemo from "./redisDecodeMemo.js"
import { type ErrorCount, reasonOf, RedisStoreError, scopeTag } from "./redisErrors.js"
import * as Metrics from "./redisMetrics.js"
import * as Minimize from "./redisMinimize.js"
import * as Reply from "./redisReply.js"
import * as Scripts from "./redisScripts.js"
import type { ServerCheck } from "./redisServerCheck.js"
import type { Bound, Settings } from "./redisSettings.js"

/**
 * The store's three scripts as effects: a read is one round trip, a write and a bump one each.
 * None of them knows about pending invalidations: the store bypasses them for pending scopes.
 *
 * @internal
 */
export interface Entries {
  /**
   * Never fails: a failed or unusable reply is counted, logged, and read as a miss. Its fresh
   * generation is drawn when called: call it per read (the store does, inside `Effect.suspend`).
   */
  readonly read: <A, I>(
    scope: string,
    key: string,
    schema: Schema.Schema<A, I>
  ) => Effect.Effect<Reply.DecodedRead<A>>
  /**
   * Never fails: a failed write is counted, logged, and dropped. Succeeds with whether Redis
   * stored it (`false` too when the scope was no longer at the entry's generation).
   */
  readonly write: <A, I>(entry: ResponseCache.StoreEntry<A, I>) => Effect.Effect<boolean>
  /** Moves the scope to a new generation; fails when Redis did not take it (not counted here). */
  readonly bump: (scope: string) => Effect.Effect<void, RedisStoreError>
}

/** How often refused values are logged at most. */
const refusalLogIntervalMs = 60_000

const miss: Reply.DecodedRead<never> = { generation: undefined, value: Option.none(), ttlMs: undefined }

/**
 * A random start for a generation (C10). It only has to differ from the generations a lost key
 * once had, not be unguessable: 47 random bits make a repeat negligible.
 */
const freshGeneration = (): string => String(Math.floor(Math.random() * 2 ** 47))

/**
 * Entries whose last decoded value a store remembers (`DecodeMemo`): a small bound, since it
 * only saves CPU on entries read again while they are among the last ones decoded.
 */
const decodeMemoCapacity = 512

/** Scopes whose last generation a cluster store remembers. */
const seenCapacity = 10_000

const isAgain = (reply: unknown): reply is [string, null, string] =>
  Array.isArray(reply) && reply.length === 3 && reply[2] === Scripts.again && typeof reply[0] === "string"

/** A cluster read whose scope moved to another generation twice in a row: a miss that stores nothing. */
const unsettled: unique symbol = Symbol("unsettled")

/** @internal */
export const make = (options: {
  readonly connection: Connection
  readonly settings: Settings
  readonly server: ServerCheck
  readonly errors: ErrorCount
  /** Read with `readTracked` (the entry's TTL too), for a store with a near cache. */
  readonly tracked?: boolean | undefined
  /**
   * Redis Cluster: every script declares every key it touches, so a read names the entry key
   * under the generation last seen for the scope (see `Scripts.read`).
   */
  readonly declared?: boolean | undefined
}): Entries => {
  const { connection, errors, server, settings } = options
  const { generationTtlMs, namespace } = settings
  const generationKey = (scope: string) => `${namespace}:gen:{${scope}}`
  const entryPrefix = (scope: string) => `${namespace}:e:{${scope}}:`
  const readScript = options.tracked === true ? Scripts.readTracked : Scripts.read
  const entryKey = (scope: string, generation: string, key: string) => `${entryPrefix(scope)}${generation}:${key}`
  const crypto = settings.crypto
  const declared = options.declared === true

  /**
   * Redis Cluster only: the generation each scope had when this process last read it, so a read
   * can declare the entry key it will GET. Bounded (oldest forgotten first): a forgotten or stale
   * one costs a second round trip, never a wrong answer, since the script checks it.
   */
  const seen = new Map<string, string>()
  const remember = (scope: string, generation: string) => {
    seen.delete(scope)
    if (seen.size >= seenCapacity) seen.delete(seen.keys().next().value!)
    seen.set(scope, generation)
  }

  /** Values decoded lately: a read of the same stored bytes is not decoded again. */
  const decoded = DecodeMemo.make(decodeMemoCapacity)

  /** Refusals since the last warning, and when it was logged: one warning per burst. */
  let refusedSinceLog = 0
  let lastRefusalLog = Number.NEGATIVE_INFINITY

  /**
   * A stored value that did not open: counted (metric by reason, and `storeErrors`), and logged
   * at most once a minute with the count since the last warning; never its content or key.
   */
  const refused = (reason: string, scope: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      errors.record()
      Metrics.valuesRefused.unsafeUpdate(1, [MetricLabel.make("reason", reason)])
      refusedSinceLog++
      if (now - lastRefusalLog < refusalLogIntervalMs) return Effect.void
      const count = refusedSinceLog
      refusedSinceLog = 0
      lastRefusalLog = now
      return Effect.logWarning(
        "Redis response cache: a stored value did not open under the cache keys (moved to another key, altered, under a rotated-out key, or stored in clear); read as a miss and replaced"
      ).pipe(Effect.annotateLogs({ scope: scopeTag(scope), reason, refused: count }))
    })

  /** A command that failed: counted, logged at debug with its operation and reason class only. */
  const failed = (error: RedisStoreError, scope: string) =>
    Effect.suspend(() => {
      errors.record()
      const reason = reasonOf(error.cause)
      return Effect.logDebug(`Redis response cache: ${error.operation} failed`).pipe(
        Effect.annotateLogs({ scope: scopeTag(scope), reason }),
        Effect.zipRight(reason === "NOPERM" || reason === Scripts.notMaster ? server.alarm(reason) : Effect.void)
      )
    })

  /**
   * One run of the read script; on a cluster, as many as it takes to name the right entry key (at
   * most two, within the one read bound).
   */
  const runRead = (scope: string, key: string): Effect.Effect<unknown, RedisStoreError> => {
    const generationArgs = [entryPrefix(scope), key, freshGeneration(), generationTtlMs]
    if (!declared) return connection.evalScript("read", readScript, [generationKey(scope)], generationArgs)
    const attempt = (expected: string, limit: Bound) =>
      connection.evalScript(
        "read",
        readScript,
        [generationKey(scope), entryKey(scope, expected, key)],
        [...generationArgs, expected],
        limit
      )
    const started = Date.now()
    // "-" is no generation: its entry key is declared (same slot) but never read.
    return Effect.flatMap(attempt(seen.get(scope) ?? "-", settings.readBound), (reply) => {
      if (Array.isArray(reply) && typeof reply[0] === "string") remember(scope, reply[0])
      if (!isAgain(reply)) return Effect.succeed(reply)
      // Both round trips share the read's one bound.
      const bound = settings.readBound.ms
      const rest: Bound = { ms: bound === undefined ? undefined : Math.max(1, bound - (Date.now() - started)) }
      return Effect.map(attempt(reply[0], rest), (second) => {
        if (!isAgain(second)) return second
        // The generation moved again between the two.
        return unsettled
      })
    })
  }

  const read = <A, I>(scope: string, key: string, schema: Schema.Schema<A, I>) =>
    runRead(scope, key).pipe(
      Effect.matchEffect({
        onFailure: (error) => Effect.as(failed(error, scope), miss),
        onSuccess: (reply): Effect.Effect<Reply.DecodedRead<A>> => {
          if (reply === unsettled) return Effect.succeed(miss)
          const result = Reply.decodeRead(
            reply,
            schema,
            server,
            crypto === undefined ?
              undefined :
              (generation, stored) => crypto.open(entryKey(scope, generation, key), stored),
            { decoded, scope, key }
          )
          if (!(result instanceof RedisStoreError)) return Effect.succeed(result)
          // A value that does not open under its own key is a miss under its generation: the fresh
          // value replaces it (so a rotation costs at most one miss per entry).
          if (result.operation === "open") {
            return Effect.as(refused(String(result.cause), scope), {
              generation: (reply as [string])[0],
              value: Option.none(),
              ttlMs: undefined
            })
          }
          // A reply we cannot use is a miss. An entry that no longer decodes is replaced by the
          // fresh value, so it keeps its generation.
          const generation = result.operation === "decode" ? (reply as [string])[0] : undefined
          return Effect.as(failed(result, scope), { generation, value: Option.none(), ttlMs: undefined })
        }
      })
    )

  const write: Entries["write"] = (entry) =>
    Effect.suspend(() => {
      const ttlMs = Math.floor(Duration.toMillis(entry.ttl))
      if (ttlMs < 1) return Effect.succeed(false)
      return Schema.encode(entry.schema)(entry.value).pipe(
        Effect.flatMap((encoded) =>
          Effect.try(() =>
            JSON.stringify(settings.omitCredentialFields ? Minimize.omitCredentialFields(encoded) : encoded)
          )
        ),
        Effect.mapError(() => new RedisStoreError({ operation: "encode", cause: "not encodable" })),
        Effect.flatMap((json) => {
          const key = entryKey(entry.scope, entry.generation, entry.key)
          // Sealed with the key it is stored under as associated data: it opens under no other.
          const value = crypto === undefined ? json : crypto.seal(key, json)
          return connection.evalScript("write", Scripts.write, [generationKey(entry.scope), key], [
            entry.generation,
            value,
            String(ttlMs),
            generationTtlMs
          ])
        }),
        Effect.map((reply) => reply === 1),
        Effect.catchAll((error) => Effect.as(failed(error, entry.scope), false))
      )
    })

  // A longer bound than reads: an invalidation that times out while Redis is merely slow goes
  // pending, and other instances may serve the old entry until it is redelivered (C5 vs C9).
  // Redis refusing the bump (OOM) made the script delete the generation key instead: delivered,
  // but Redis is in trouble, so it is counted and logged every time.
  const bump = (scope: string) =>
    connection.evalScript(
      "invalidate",
      Scripts.invalidate,
      [generationKey(scope)],
      [freshGeneration(), generationTtlMs],
      settings.invalidationBound
    ).pipe(
      Effect.flatMap((reply) => {
        if (reply !== 2) return Effect.void
        errors.record()
        Metrics.invalidationFallbacks.unsafeUpdate(1, [])
        return Effect.logWarning(
          "Redis response cache: Redis refused to write an invalidation (maxmemory?); its generation key was deleted instead, and the scope is not cached until Redis accepts writes"
        ).pipe(Effect.annotateLogs("scope", scopeTag(scope)))
      })
    )

  return { read, write, bump }
}
