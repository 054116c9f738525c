import { CachePolicy, type ResponseCache, TinkMetrics } from "@tink-effect/core"
import * as ConfigError from "effect/ConfigError"
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
import * as Metrics from "./redisMetrics.js"
import * as Scripts from "./redisScripts.js"
import * as RedisUrl from "./redisUrl.js"

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
/**
 * How long a last delivery of pending invalidations may hold up closing: `invalidationTimeout`,
 * but at least long enough for a reconnection (node-redis backs off up to ~1 s) and at most 5 s.
 */
const lastDeliveryFloor = Duration.seconds(2)
const lastDeliveryCap = Duration.seconds(5)
/** `size` stops counting here: it is a SCAN, O(keys in the database). */
const sizeCap = 100_000

const defaultSchedule: Schedule.Schedule<unknown, unknown> = Schedule.union(
  Schedule.exponential("50 millis"),
  Schedule.spaced("5 seconds")
)

/**
 * A random start for a generation (C10). It only has to differ from the generations a lost key
 * once had, not be unguessable: 47 random bits make a repeat negligible.
 */
const freshGeneration = (): string => String(Math.floor(Math.random() * 2 ** 47))

/**
 * The epoch of a connection: the server's `run_id`, random per redis-server process (a promoted
 * replica has its own). Any event that can roll the data set back (a restart from a snapshot, a
 * failover) changes it, and every generation carries it, so generations written before are
 * never trusted again.
 */
const epochOf = (info: unknown): string | undefined => {
  const match = typeof info === "string" ? /^run_id:([0-9a-f]{40})\s*$/m.exec(info) : null
  return match === null ? undefined : match[1]!.slice(0, 16)
}

/** Scopes are user ids or token hashes: logs carry a short hash of them, never the scope itself. */
const scopeTag = (scope: string): string => createHash("sha256").update(scope).digest("hex").slice(0, 12)

const escapeGlob = (text: string): string => text.replace(/[*?[\]\\]/g, "\\$&")

/** Reconnects for ever, backing off to at most one second between attempts. */
const reconnectStrategy = (retries: number): number =>
  Math.min(1000, 20 * 2 ** Math.min(retries, 6)) + Math.floor(Math.random() * 20)

/** @internal */
export const make = (
  options: Options = {}
): Effect.Effect<ResponseCache.Store, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const url = options.url === undefined
      ? "redis://127.0.0.1:6379"
      : Redacted.isRedacted(options.url)
      ? Redacted.value(options.url)
      : options.url
    const problem = RedisUrl.problem(url)
    if (problem !== undefined) {
      return yield* Effect.fail(ConfigError.InvalidData(["url"], `The Redis URL ${problem}`))
    }
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
    const lastDeliveryWait = Duration.min(
      Duration.max(Duration.decode(options.invalidationTimeout ?? Duration.seconds(1)), lastDeliveryFloor),
      lastDeliveryCap
    )
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    const storeScope = yield* Effect.scope

    /**
     * The connection commands go through: `socket` counts node-redis's sockets, `epoch` is the
     * epoch of the current one, undefined from the moment a new socket connects until its server
     * told its `run_id`. No command runs without an epoch, so nothing reaches a restarted or
     * failed-over server under the epoch of the one before (the offline queue is off too).
     */
    const link: { socket: number; epoch: string | undefined; last: string | undefined } = {
      socket: 0,
      epoch: undefined,
      last: undefined
    }
    const epochWaiters = new Set<() => void>()

    const client = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const client = createClient({
          url,
          // Fail at once while disconnected instead of queueing: a cache command that cannot run
          // now is a miss, not something to replay later (possibly on another server).
          disableOfflineQueue: true,
          socket: { reconnectStrategy }
        })
        // node-redis emits 'error' on every failed (re)connection; without a listener the process
        // would crash. Log the loss of the connection once, and its return.
        let up = false
        let lost = false
        // From the moment the socket is lost, no epoch: what comes next may be another server.
        const forget = () => {
          if (!client.isReady) link.epoch = undefined
        }
        client.on("reconnecting", forget)
        client.on("end", forget)
        client.on("error", (error: unknown) => {
          forget()
          if (!up) return
          up = false
          lost = true
          runFork(
            Effect.logWarning("Redis response cache: connection lost, serving misses until it is back").pipe(
              Effect.annotateLogs("error", error instanceof Error ? error.message : String(error))
            )
          )
        })
        // Emitted for every new socket before it is ready: from here on, no epoch.
        client.on("connect", () => {
          link.socket++
          link.epoch = undefined
        })
        client.on("ready", () => {
          learnEpoch(client, link.socket)
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

    /** Asks the server of socket number `socket` for its epoch; ignored if the socket changed meanwhile. */
    function learnEpoch(redis: typeof client, socket: number) {
      redis.sendCommand(["INFO", "server"]).then(
        (info) => {
          if (link.socket !== socket) return
          const epoch = epochOf(info)
          if (epoch === undefined) {
            runFork(Effect.logError("Redis response cache: INFO shows no run_id; serving misses"))
            return
          }
          if (link.last !== undefined && link.last !== epoch) {
            runFork(Effect.logWarning(
              "Redis response cache: now on another Redis server process (restart or failover); entries cached before are ignored"
            ))
          }
          link.last = epoch
          link.epoch = epoch
          for (const waiter of epochWaiters) waiter()
        },
        (error: unknown) => {
          // A dropped socket is handled by the next one; anything else (e.g. INFO denied by an
          // ACL) leaves the store serving misses, so say so.
          if (link.socket !== socket || !redis.isReady) return
          runFork(
            Effect.logError("Redis response cache: INFO failed, serving misses until the next connection").pipe(
              Effect.annotateLogs("error", error instanceof Error ? error.message : String(error))
            )
          )
        }
      )
    }

    // Wait for the first connection attempt and its epoch (at most `connectWait`), so a fresh
    // store can serve hits at once. If it fails, reads are misses while node-redis keeps
    // reconnecting in the background; `connect()` settles only then (or rejects when closed).
    const connected = yield* Effect.async<boolean>((resume) => {
      const onEpoch = () => {
        detach()
        resume(Effect.succeed(true))
      }
      const onError = () => {
        detach()
        resume(Effect.succeed(false))
      }
      const detach = () => {
        epochWaiters.delete(onEpoch)
        client.off("error", onError)
      }
      epochWaiters.add(onEpoch)
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
      run: (epoch: string, socket: number) => Promise<A>,
      limit: { readonly ms: number | undefined; readonly text: string } = readBound
    ): Effect.Effect<A, RedisStoreError> =>
      Effect.async<A, RedisStoreError>((resume) => {
        const epoch = link.epoch
        if (epoch === undefined) {
          resume(Effect.fail(new RedisStoreError({ operation, cause: "not connected to a known Redis server" })))
          return
        }
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
          run(epoch, link.socket).then(
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
      args: (epoch: string) => ReadonlyArray<string>,
      limit = readBound
    ): Effect.Effect<unknown, RedisStoreError> =>
      command(operation, (epoch, socket) => {
        const tail = [String(keys.length), ...keys, ...args(epoch)]
        return client.sendCommand(["EVALSHA", script.sha, ...tail]).catch((error: unknown) => {
          if (error instanceof Error && error.message.startsWith("NOSCRIPT")) {
            // A restart flushes scripts: never send the fallback to a server other than the one
            // the epoch was learnt from.
            if (link.socket !== socket || link.epoch !== epoch) throw new Error("the connection changed")
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
        return evalScript("read", Scripts.read, [generationKey(scope)], (epoch) => [
          epoch,
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
            ], (epoch) =>
              // A value read under another epoch is not stored: the script would refuse it anyway
              // (generations carry their epoch), this only saves the round trip's value.
              entry.generation.startsWith(`${epoch}:`)
                ? [entry.generation, value, String(ttlMs), generationTtlMs]
                : ["", "", "1", "1"])
          ),
          Effect.asVoid,
          Effect.catchAll((error) => failed(error, entry.scope))
        )
      })

    // A longer bound than reads: an invalidation that times out while Redis is merely slow goes
    // pending, and other instances may serve the old entry until it is redelivered (C5 vs C9).
    // Redis refusing the bump (OOM) made the script delete the generation key instead: delivered,
    // but Redis is in trouble, so it is counted and logged every time.
    const bump = (scope: string) =>
      evalScript(
        "invalidate",
        Scripts.invalidate,
        [generationKey(scope)],
        (epoch) => [epoch, freshGeneration(), generationTtlMs],
        invalidationBound
      ).pipe(
        Effect.tap((reply) =>
          reply === 2
            ? Effect.suspend(() => {
              errors++
              TinkMetrics.cacheStoreErrors.unsafeUpdate(1, [])
              Metrics.invalidationFallbacks.unsafeUpdate(1, [])
              return Effect.logWarning(
                "Redis response cache: Redis refused to write an invalidation (maxmemory?); its generation key was deleted instead, and the scope is not cached until Redis accepts writes"
              ).pipe(Effect.annotateLogs("scope", scopeTag(scope)))
            })
            : Effect.void
        )
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

    /**
     * On close, one last bounded delivery of the invalidations still pending (the redelivery
     * fibers have been interrupted by then: they were forked into this scope after this finalizer
     * was added). What cannot be delivered is lost for the other instances, which may serve those
     * scopes' old entries until their TTL: logged as an error with the count, and counted.
     */
    const lastDelivery = Effect.suspend(() => {
      const scopes = Array.from(pending.keys())
      if (scopes.length === 0) return Effect.void
      let delivered = 0
      // Not connected (the usual case after an outage): wait for the connection and its epoch.
      const connection = Effect.async<void>((resume) => {
        if (link.epoch !== undefined) return resume(Effect.void)
        const onEpoch = () => {
          epochWaiters.delete(onEpoch)
          resume(Effect.void)
        }
        epochWaiters.add(onEpoch)
        return Effect.sync(() => epochWaiters.delete(onEpoch))
      })
      return Effect.zipRight(
        connection,
        Effect.forEach(scopes, (scope) =>
          bump(scope).pipe(
            Effect.tap(() => {
              delivered++
              pending.delete(scope)
            }),
            Effect.ignore
          ), { concurrency: "unbounded", discard: true })
      ).pipe(
        Effect.interruptible,
        Effect.timeoutTo({ duration: lastDeliveryWait, onTimeout: () => undefined, onSuccess: () => undefined }),
        Effect.zipRight(Effect.suspend(() => {
          const lost = scopes.length - delivered
          if (lost === 0) {
            return Effect.logInfo("Redis response cache: pending invalidations delivered at close").pipe(
              Effect.annotateLogs("scopes", delivered)
            )
          }
          Metrics.invalidationsLost.unsafeUpdate(lost, [])
          return Effect.logError(
            `Redis response cache: ${lost} pending invalidation(s) lost at close; other instances may serve those users' old entries until their TTL`
          ).pipe(Effect.annotateLogs({ lost, delivered }))
        }))
      )
    })
    yield* Effect.addFinalizer(() => lastDelivery)

    return {
      read,
      write,
      invalidate,
      size,
      errors: Effect.sync(() => errors)
    } satisfies ResponseCache.Store
  })
