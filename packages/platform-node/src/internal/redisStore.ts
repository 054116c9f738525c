import { CachePolicy, type ResponseCache, TinkMetrics } from "@tink-effect/core"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { createHash } from "node:crypto"
import { createClient } from "redis"
import * as Scripts from "./redisScripts.js"

/** The public options, documented where users read them. @internal */
export type Options = import("../ResponseCache.js").RedisOptions

/** A cache command that failed, timed out or returned something unexpected. */
class RedisStoreError extends Data.TaggedError("RedisStoreError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

/** An invalidation not delivered yet: how many were asked for, and whether a fiber is delivering them. */
interface Pending {
  requested: number
  delivering: boolean
}

/** How long building the store waits for the first connection before serving misses. */
const connectWait = Duration.seconds(1)
/** How long closing waits for replies still due before the socket is destroyed. */
const closeWait = Duration.seconds(1)
/** `size` stops counting here: it is a SCAN, O(keys in the database). */
const sizeCap = 100_000

const defaultSchedule: Schedule.Schedule<unknown, unknown> = Schedule.union(
  Schedule.exponential("50 millis"),
  Schedule.spaced("5 seconds")
)

/** Generations start at a random 47-bit integer, so a lost generation key never revives old entries (C10). */
/**
 * A random start for a generation (C10). It only has to differ from the generations a lost key
 * once had, not be unguessable: 47 random bits make a repeat negligible.
 */
const freshGeneration = (): string => String(Math.floor(Math.random() * 2 ** 47))

/** Scopes are user ids or token hashes: logs carry a short hash of them, never the scope itself. */
const scopeTag = (scope: string): string => createHash("sha256").update(scope).digest("hex").slice(0, 12)

const escapeGlob = (text: string): string => text.replace(/[*?[\]\\]/g, "\\$&")

/** Reconnects for ever, backing off to at most one second between attempts. */
const reconnectStrategy = (retries: number): number =>
  Math.min(1000, 20 * 2 ** Math.min(retries, 6)) + Math.floor(Math.random() * 20)

/** @internal */
export const make = (options: Options = {}): Effect.Effect<ResponseCache.Store, never, Scope.Scope> =>
  Effect.gen(function*() {
    const namespace = options.namespace ?? "tink"
    const timeout = Duration.decode(options.timeout ?? Duration.millis(20))
    // setTimeout takes at most 2^31 - 1 ms; an infinite bound means no timer at all.
    const bound = (duration: Duration.Duration) => ({
      ms: Duration.isFinite(duration) ? Math.min(2 ** 31 - 1, Duration.toMillis(duration)) : undefined,
      text: Duration.format(duration)
    })
    const readBound = bound(timeout)
    const invalidationBound = bound(Duration.decode(options.invalidationTimeout ?? Duration.seconds(1)))
    const generationTtlMs = String(Math.max(
      1,
      Math.ceil(Duration.toMillis(
        options.generationTtl ?? Duration.sum(CachePolicy.longestTtl(), Duration.hours(1))
      ))
    ))
    const retrySchedule = options.retrySchedule ?? defaultSchedule
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    const storeScope = yield* Effect.scope

    const client = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const client = createClient({
          url: options.url === undefined
            ? "redis://127.0.0.1:6379"
            : Redacted.isRedacted(options.url)
            ? Redacted.value(options.url)
            : options.url,
          // Fail at once while disconnected instead of queueing: a cache command that cannot run
          // now is a miss, not something to replay later.
          disableOfflineQueue: true,
          socket: { reconnectStrategy }
        })
        // node-redis emits 'error' on every failed (re)connection; without a listener the process
        // would crash. Log the loss of the connection once, and its return.
        let up = false
        let lost = false
        client.on("error", (error: unknown) => {
          if (!up) return
          up = false
          lost = true
          runFork(
            Effect.logWarning("Redis response cache: connection lost, serving misses until it is back").pipe(
              Effect.annotateLogs("error", error instanceof Error ? error.message : String(error))
            )
          )
        })
        client.on("ready", () => {
          if (up) return
          up = true
          runFork(
            lost
              ? Effect.logInfo("Redis response cache: connection back")
              : Effect.logDebug("Redis response cache: connected")
          )
        })
        return client
      }),
      (client) =>
        // Finalizers run uninterruptibly: the wait must be made interruptible for the bound to work.
        Effect.interruptible(Effect.tryPromise(() => client.close())).pipe(
          Effect.timeout(closeWait),
          Effect.orElse(() => Effect.sync(() => client.destroy()))
        )
    )
    // Wait for the first connection attempt (at most `connectWait`), so a fresh store can serve
    // hits at once. If it fails, reads are misses while node-redis keeps reconnecting in the
    // background; `connect()` settles only then (or rejects when the client is closed).
    const connected = yield* Effect.async<boolean>((resume) => {
      const onReady = () => {
        detach()
        resume(Effect.succeed(true))
      }
      const onError = () => {
        detach()
        resume(Effect.succeed(false))
      }
      const detach = () => {
        client.off("ready", onReady)
        client.off("error", onError)
      }
      client.once("ready", onReady)
      client.once("error", onError)
      client.connect().catch(() => undefined)
      return Effect.sync(detach)
    }).pipe(
      Effect.interruptible,
      Effect.timeoutTo({ duration: connectWait, onTimeout: () => false, onSuccess: (ready) => ready })
    )
    if (!connected) {
      yield* Effect.logWarning("Redis response cache: Redis not reachable yet, serving misses until it is")
    }

    let errors = 0
    let lastSize = 0
    /** Scopes whose invalidation has not reached Redis yet. */
    const pending = new Map<string, Pending>()

    /**
     * Runs one command with the bounded wait (C9). When the wait runs out we only stop waiting:
     * node-redis still matches the late reply to this command's own promise (replies are FIFO per
     * connection), so the reply queue stays in step for the commands after it.
     *
     * The bound is a timer of our own rather than `Effect.timeout`: the same bound, but without
     * forking a racing fiber per command (measured: ~8 µs against ~55-70 µs per command, on a path
     * whose Redis round trip is ~70-110 µs). It also holds for a caller that cannot be interrupted.
     */
    const command = <A>(
      operation: string,
      run: () => Promise<A>,
      limit: { readonly ms: number | undefined; readonly text: string } = readBound
    ): Effect.Effect<A, RedisStoreError> =>
      Effect.async<A, RedisStoreError>((resume) => {
        let settled = false
        const settle = (effect: Effect.Effect<A, RedisStoreError>) => {
          if (settled) return
          settled = true
          if (timer !== undefined) clearTimeout(timer)
          resume(effect)
        }
        const timer = limit.ms === undefined ? undefined : setTimeout(
          () => settle(Effect.fail(new RedisStoreError({ operation, cause: `no reply within ${limit.text}` }))),
          limit.ms
        )
        try {
          run().then(
            (reply) => settle(Effect.succeed(reply)),
            (cause: unknown) => settle(Effect.fail(new RedisStoreError({ operation, cause })))
          )
        } catch (cause) {
          settle(Effect.fail(new RedisStoreError({ operation, cause })))
        }
        return Effect.sync(() => {
          settled = true
          if (timer !== undefined) clearTimeout(timer)
        })
      })

    /** EVALSHA, falling back to EVAL (which also caches the script) after a SCRIPT FLUSH or restart. */
    const evalScript = (
      operation: string,
      script: Scripts.Script,
      keys: ReadonlyArray<string>,
      args: ReadonlyArray<string>,
      limit = readBound
    ): Effect.Effect<unknown, RedisStoreError> =>
      command(operation, () => {
        const tail = [String(keys.length), ...keys, ...args]
        return client.sendCommand(["EVALSHA", script.sha, ...tail]).catch((error: unknown) => {
          if (error instanceof Error && error.message.startsWith("NOSCRIPT")) {
            return client.sendCommand(["EVAL", script.source, ...tail])
          }
          throw error
        })
      }, limit)

    const generationKey = (scope: string) => `${namespace}:gen:{${scope}}`
    const entryPrefix = (scope: string) => `${namespace}:e:{${scope}}:`

    const failed = (error: RedisStoreError, scope: string) =>
      Effect.suspend(() => {
        errors++
        TinkMetrics.cacheStoreErrors.unsafeUpdate(1, [])
        return Effect.logDebug(`Redis response cache: ${error.operation} failed`).pipe(
          Effect.annotateLogs({ scope: scopeTag(scope), error: String(error.cause) })
        )
      })

    const miss: ResponseCache.StoreRead<never> = { generation: undefined, value: Option.none() }

    /** A reply of the read script, checked, parsed and decoded without further effect steps. */
    const decodeReply = <A, I>(
      reply: unknown,
      schema: Schema.Schema<A, I>
    ): ResponseCache.StoreRead<A> | RedisStoreError => {
      if (
        !Array.isArray(reply) || reply.length !== 2 || typeof reply[0] !== "string" ||
        (reply[1] !== null && typeof reply[1] !== "string")
      ) return new RedisStoreError({ operation: "read", cause: "unexpected reply" })
      const generation = reply[0]
      const raw = reply[1] as string | null
      if (raw === null) return { generation, value: Option.none() }
      let json: unknown
      try {
        json = JSON.parse(raw)
      } catch (cause) {
        return new RedisStoreError({ operation: "decode", cause })
      }
      const decoded = Schema.decodeUnknownEither(schema)(json)
      return decoded._tag === "Right"
        ? { generation, value: Option.some(decoded.right) }
        : new RedisStoreError({ operation: "decode", cause: decoded.left })
    }

    const read = <A, I>(scope: string, key: string, schema: Schema.Schema<A, I>) =>
      Effect.suspend((): Effect.Effect<ResponseCache.StoreRead<A>> => {
        // An invalidation of this scope has not reached Redis: bypass the shared store (C9).
        if (pending.has(scope)) return Effect.succeed(miss)
        return evalScript("read", Scripts.read, [generationKey(scope)], [
          entryPrefix(scope),
          key,
          freshGeneration(),
          generationTtlMs
        ]).pipe(
          Effect.matchEffect({
            onFailure: (error) => Effect.as(failed(error, scope), miss),
            onSuccess: (reply) => {
              const result = decodeReply(reply, schema)
              if (!(result instanceof RedisStoreError)) return Effect.succeed(result)
              // A reply we cannot use is a miss. An entry that no longer decodes is replaced by
              // the fresh value, so it keeps its generation.
              const generation = result.operation === "decode" ? (reply as [string])[0] : undefined
              return Effect.as(failed(result, scope), { generation, value: Option.none() })
            }
          })
        )
      })

    const write: ResponseCache.Store["write"] = (entry) =>
      Effect.suspend(() => {
        const ttlMs = Math.floor(Duration.toMillis(entry.ttl))
        if (ttlMs < 1 || pending.has(entry.scope)) return Effect.void
        return Schema.encode(entry.schema)(entry.value).pipe(
          Effect.flatMap((encoded) => Effect.try(() => JSON.stringify(encoded))),
          Effect.mapError((cause) => new RedisStoreError({ operation: "encode", cause })),
          Effect.flatMap((value) =>
            evalScript("write", Scripts.write, [
              generationKey(entry.scope),
              `${entryPrefix(entry.scope)}${entry.generation}:${entry.key}`
            ], [entry.generation, value, String(ttlMs), generationTtlMs])
          ),
          Effect.asVoid,
          Effect.catchAll((error) => failed(error, entry.scope))
        )
      })

    // A longer bound than reads: an invalidation that times out while Redis is merely slow goes
    // pending, and other instances may serve the old entry until it is redelivered (C5 vs C9).
    const bump = (scope: string) =>
      evalScript(
        "invalidate",
        Scripts.invalidate,
        [generationKey(scope)],
        [freshGeneration(), generationTtlMs],
        invalidationBound
      )

    /**
     * Redelivers a scope's invalidation until Redis has it. The pending mark is cleared only if no
     * other invalidation of the scope was asked for while this delivery was under way; otherwise
     * it delivers again, so the bump that clears the mark happened after the last invalidation.
     * If a finite `retrySchedule` runs out, the scope stays pending (it keeps bypassing Redis) and
     * its next invalidation starts a new delivery.
     */
    const redeliver = (scope: string, state: Pending): Effect.Effect<void> =>
      Effect.suspend(() => {
        const requested = state.requested
        return Effect.retry(bump(scope), retrySchedule).pipe(
          Effect.matchEffect({
            onFailure: (error) =>
              Effect.suspend(() => {
                state.delivering = false
                return Effect.logError("Redis response cache: gave up delivering an invalidation").pipe(
                  Effect.annotateLogs({ scope: scopeTag(scope), error: String(error.cause) })
                )
              }),
            onSuccess: () => {
              if (state.requested !== requested) return redeliver(scope, state)
              pending.delete(scope)
              return Effect.logInfo("Redis response cache: pending invalidation delivered").pipe(
                Effect.annotateLogs("scope", scopeTag(scope))
              )
            }
          })
        )
      })

    const startDelivery = (scope: string, state: Pending) =>
      Effect.suspend(() => {
        state.delivering = true
        // Interruptible: the invalidation runs in a mutation's uninterruptible exit handler, and
        // closing the cache must not wait for a Redis that never comes back.
        return Effect.asVoid(Effect.forkIn(Effect.interruptible(redeliver(scope, state)), storeScope))
      })

    const invalidate = (scope: string) =>
      Effect.suspend(() => {
        const state = pending.get(scope)
        if (state !== undefined) {
          // Still pending: the delivery under way sees the new count and delivers once more.
          state.requested++
          return state.delivering ? Effect.void : startDelivery(scope, state)
        }
        return bump(scope).pipe(
          Effect.asVoid,
          Effect.catchAll((error) =>
            Effect.suspend(() => {
              errors++
              TinkMetrics.cacheStoreErrors.unsafeUpdate(1, [])
              // Marked before anything else runs, so reads from now on bypass Redis.
              const state: Pending = { requested: 1, delivering: false }
              pending.set(scope, state)
              return Effect.logWarning(
                "Redis response cache: invalidation not delivered; the scope bypasses Redis until it is"
              ).pipe(
                Effect.annotateLogs({ scope: scopeTag(scope), error: String(error.cause) }),
                Effect.zipRight(startDelivery(scope, state))
              )
            })
          )
        )
      })

    /**
     * Entries under the namespace (every generation, until their TTL), counted with SCAN. That is
     * O(keys in the database), so it runs for `stats` only, never on a read, write or
     * invalidation, and stops at 100 000. If Redis fails meanwhile, the last count is returned.
     */
    const size = Effect.suspend(() => {
      const match = `${escapeGlob(namespace)}:e:*`
      const loop = (cursor: string, count: number): Effect.Effect<number, RedisStoreError> =>
        command("size", () => client.sendCommand(["SCAN", cursor, "MATCH", match, "COUNT", "1000"])).pipe(
          Effect.flatMap((reply) => {
            if (!Array.isArray(reply) || typeof reply[0] !== "string" || !Array.isArray(reply[1])) {
              return Effect.fail(new RedisStoreError({ operation: "size", cause: "unexpected reply" }))
            }
            const total = count + reply[1].length
            return reply[0] === "0" || total >= sizeCap
              ? Effect.succeed(Math.min(total, sizeCap))
              : loop(reply[0], total)
          })
        )
      return loop("0", 0).pipe(
        Effect.tap((count) => {
          lastSize = count
        }),
        // Not a store error in the sense of `errors` (nothing was served as a miss): just logged.
        Effect.catchAll((error) =>
          Effect.as(
            Effect.logDebug("Redis response cache: size failed").pipe(
              Effect.annotateLogs("error", String(error.cause))
            ),
            lastSize
          )
        )
      )
    })

    return {
      read,
      write,
      invalidate,
      size,
      errors: Effect.sync(() => errors)
    } satisfies ResponseCache.Store
  })
