import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Connection } from "./redisConnection.js"
import { type ErrorCount, reasonOf, RedisStoreError, scopeTag } from "./redisErrors.js"
import * as Metrics from "./redisMetrics.js"
import * as Reply from "./redisReply.js"
import * as Scripts from "./redisScripts.js"
import type { ServerCheck } from "./redisServerCheck.js"
import type { Settings } from "./redisSettings.js"

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
  readonly write: <A, I>(entry: {
    readonly scope: string
    readonly generation: string
    readonly key: string
    readonly value: A
    readonly schema: Schema.Schema<A, I>
    readonly ttl: Duration.Duration
  }) => Effect.Effect<boolean>
  /** Moves the scope to a new generation; fails when Redis did not take it (not counted here). */
  readonly bump: (scope: string) => Effect.Effect<void, RedisStoreError>
}

const miss: Reply.DecodedRead<never> = { generation: undefined, value: Option.none(), ttlMs: undefined }

/**
 * A random start for a generation (C10). It only has to differ from the generations a lost key
 * once had, not be unguessable: 47 random bits make a repeat negligible.
 */
const freshGeneration = (): string => String(Math.floor(Math.random() * 2 ** 47))

/** @internal */
export const make = (options: {
  readonly connection: Connection
  readonly settings: Settings
  readonly server: ServerCheck
  readonly errors: ErrorCount
  /** Read with `readTracked` (the entry's TTL too), for a store with a near cache. */
  readonly tracked?: boolean | undefined
}): Entries => {
  const { connection, errors, server, settings } = options
  const { generationTtlMs, namespace } = settings
  const generationKey = (scope: string) => `${namespace}:gen:{${scope}}`
  const entryPrefix = (scope: string) => `${namespace}:e:{${scope}}:`
  const readScript = options.tracked === true ? Scripts.readTracked : Scripts.read

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

  const read = <A, I>(scope: string, key: string, schema: Schema.Schema<A, I>) =>
    connection.evalScript("read", readScript, [generationKey(scope)], [
      entryPrefix(scope),
      key,
      freshGeneration(),
      generationTtlMs
    ]).pipe(
      Effect.matchEffect({
        onFailure: (error) => Effect.as(failed(error, scope), miss),
        onSuccess: (reply): Effect.Effect<Reply.DecodedRead<A>> => {
          const result = Reply.decodeRead(reply, schema, server)
          if (!(result instanceof RedisStoreError)) return Effect.succeed(result)
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
        Effect.flatMap((encoded) => Effect.try(() => JSON.stringify(encoded))),
        Effect.mapError(() => new RedisStoreError({ operation: "encode", cause: "not encodable" })),
        Effect.flatMap((value) =>
          connection.evalScript("write", Scripts.write, [
            generationKey(entry.scope),
            `${entryPrefix(entry.scope)}${entry.generation}:${entry.key}`
          ], [entry.generation, value, String(ttlMs), generationTtlMs])
        ),
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
