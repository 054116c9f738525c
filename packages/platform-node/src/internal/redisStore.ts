import { CachePolicy, type ResponseCache, TinkMetrics } from "@tink-effect/core"
import * as ConfigError from "effect/ConfigError"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
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
/** The pause between two rounds of the last delivery after one that failed. */
const lastDeliveryGap = Duration.millis(50)
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
 * What went wrong, as a class safe for logs: a Redis error code (`OOM`, `NOPERM`, `TINKNOTMASTER`,
 * ...), a Node error code (`ECONNREFUSED`), a node-redis error class (`ClientOfflineError`) or a
 * reason of our own. Never a message: those may quote values or addresses.
 */
const reasonOf = (cause: unknown): string => {
  if (typeof cause === "string") return cause
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code
    if (typeof code === "string" && /^[A-Z0-9_]+$/.test(code)) return code
    // An ACL denial inside a script is an ERR, not a NOPERM.
    if (/^ERR The user executing the script can't /.test(cause.message)) return "NOPERM"
    const word = /^([A-Z][A-Z0-9_]+) /.exec(cause.message)
    if (word !== null) return word[1]!
    return cause.constructor.name
  }
  return "unknown"
}

/** How a new connection's server answered the probe. */
type Probe = "ok" | "denied" | "replica" | "failed"

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
      ms: Duration.isFinite(duration) ? Math.min(2 ** 31 - 1, Duration.toMillis(duration)) : undefined
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
     * What the store last learnt of the data set it talks to: the epoch prefix (`<epoch>:`) of the
     * last probe or read, to log a change of data set once; and the alarm (a replica, INFO denied)
     * already logged, so it is logged once per occurrence, not once per read. Neither gates
     * anything: every script checks the epoch itself, atomically (see redisScripts.ts).
     */
    let seenEpoch: string | undefined
    let alarmed: string | undefined
    const readyWaiters = new Set<() => void>()
    const probeWaiters = new Set<(probe: Probe) => void>()

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
        client.on("error", (error: unknown) => {
          if (!up) return
          up = false
          lost = true
          runFork(
            Effect.logWarning("Redis response cache: connection lost, serving misses until it is back").pipe(
              Effect.annotateLogs("reason", reasonOf(error))
            )
          )
        })
        client.on("ready", () => {
          for (const waiter of readyWaiters) waiter()
          runFork(checkServer)
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
          Effect.timeoutFail({ duration: closeWait, onTimeout: () => "timeout" }),
          Effect.catchAll((error) =>
            Effect.zipRight(
              Effect.sync(() => client.destroy()),
              Effect.logDebug("Redis response cache: the connection did not close cleanly; destroyed").pipe(
                Effect.annotateLogs("reason", typeof error === "string" ? error : reasonOf(error.error))
              )
            )
          )
        )
    )

    /** Notes the epoch of a reply; a change (restart, failover, resync) is logged once. */
    const noteEpoch = (prefix: string) => {
      if (seenEpoch !== undefined && seenEpoch !== prefix) {
        runFork(Effect.logWarning(
          "Redis response cache: Redis now holds another data set (restart, failover or resync); entries cached before are ignored"
        ))
      }
      seenEpoch = prefix
      alarmed = undefined
    }

    /** Logs once, until the next change of data set, that Redis refuses the cache's scripts. */
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

    /**
     * Asks a new connection's server for its epoch: an ACL that denies INFO, a URL that points at
     * a replica, or a change of data set show up in the logs when the connection is made, not at
     * the first read.
     */
    const checkServer: Effect.Effect<void> = Effect.suspend(() =>
      evalScript("probe", Scripts.probe, [], [], invalidationBound).pipe(
        Effect.matchEffect({
          onSuccess: (reply) => {
            if (typeof reply === "string" && reply.length === 17) {
              noteEpoch(reply)
              return Effect.succeed<Probe>("ok")
            }
            return Effect.as(
              Effect.logError("Redis response cache: unexpected reply from Redis; serving misses"),
              "failed" as const
            )
          },
          onFailure: (error) => {
            const reason = reasonOf(error.cause)
            if (reason === "NOPERM") return Effect.as(alarm(reason), "denied" as const)
            if (reason === Scripts.notMaster) return Effect.as(alarm(reason), "replica" as const)
            // A dropped socket is handled by the next one.
            if (!client.isReady) return Effect.succeed<Probe>("failed")
            return Effect.as(
              Effect.logError("Redis response cache: checking the Redis server failed; serving misses").pipe(
                Effect.annotateLogs("reason", reason)
              ),
              "failed" as const
            )
          }
        }),
        Effect.tap((probe) =>
          Effect.sync(() => {
            for (const waiter of probeWaiters) waiter(probe)
          })
        ),
        Effect.asVoid
      )
    )

    let errors = 0
    let lastSize = 0
    /** Scopes whose invalidation has not reached Redis yet. */
    const pending = new Map<string, Pending>()
    /**
     * `closing` from the moment the last delivery starts: invalidations that fail then are left to
     * it instead of forking a delivery into the closing scope. `closed` once it is over: an
     * invalidation that fails then is lost at once, and counted as such.
     */
    let phase: "open" | "closing" | "closed" = "open"

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
      limit: { readonly ms: number | undefined } = readBound
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
          () => settle(Effect.fail(new RedisStoreError({ operation, cause: "timeout" }))),
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

    /**
     * EVALSHA, falling back to EVAL (which also caches the script) after a SCRIPT FLUSH or
     * restart. Whichever server the fallback reaches, the script checks the epoch itself.
     */
    function evalScript(
      operation: string,
      script: Scripts.Script,
      keys: ReadonlyArray<string>,
      args: ReadonlyArray<string>,
      limit = readBound
    ): Effect.Effect<unknown, RedisStoreError> {
      return command(operation, () => {
        const tail = [String(keys.length), ...keys, ...args]
        return client.sendCommand(["EVALSHA", script.sha, ...tail]).catch((error: unknown) => {
          if (error instanceof Error && error.message.startsWith("NOSCRIPT")) {
            return client.sendCommand(["EVAL", script.source, ...tail])
          }
          throw error
        })
      }, limit)
    }

    // Wait for the first connection and its check (at most `connectWait`), so a fresh store can
    // serve hits at once, and a server that will not serve the cache is named as such. If it
    // fails, reads are misses while node-redis keeps reconnecting in the background; `connect()`
    // settles only then (or rejects when closed).
    const first = yield* Effect.async<Probe | "unreachable">((resume) => {
      const onProbe = (probe: Probe) => {
        detach()
        resume(Effect.succeed(probe))
      }
      const onError = () => {
        detach()
        resume(Effect.succeed("unreachable"))
      }
      const detach = () => {
        probeWaiters.delete(onProbe)
        client.off("error", onError)
      }
      probeWaiters.add(onProbe)
      client.once("error", onError)
      client.connect().catch(() => undefined)
      return Effect.sync(detach)
    }).pipe(
      Effect.interruptible,
      Effect.timeoutTo({ duration: connectWait, onTimeout: () => "unreachable" as const, onSuccess: (probe) => probe })
    )
    if (first === "unreachable") {
      yield* Effect.logWarning("Redis response cache: Redis not reachable yet, serving misses until it is")
    }

    const generationKey = (scope: string) => `${namespace}:gen:{${scope}}`
    const entryPrefix = (scope: string) => `${namespace}:e:{${scope}}:`

    /** A command that failed: counted, logged at debug with its operation and reason class only. */
    const failed = (error: RedisStoreError, scope: string) =>
      Effect.suspend(() => {
        errors++
        TinkMetrics.cacheStoreErrors.unsafeUpdate(1, [])
        const reason = reasonOf(error.cause)
        return Effect.logDebug(`Redis response cache: ${error.operation} failed`).pipe(
          Effect.annotateLogs({ scope: scopeTag(scope), reason }),
          Effect.zipRight(reason === "NOPERM" || reason === Scripts.notMaster ? alarm(reason) : Effect.void)
        )
      })

    const miss: ResponseCache.StoreRead<never> = { generation: undefined, value: Option.none() }

    /**
     * A reply of the read script, checked, parsed and decoded without further effect steps. An
     * entry that does not decode is reported by where (the paths in the value), never by what:
     * cached values are users' data.
     */
    const decodeReply = <A, I>(
      reply: unknown,
      schema: Schema.Schema<A, I>
    ): ResponseCache.StoreRead<A> | RedisStoreError => {
      if (
        !Array.isArray(reply) || reply.length !== 2 || typeof reply[0] !== "string" ||
        (reply[1] !== null && typeof reply[1] !== "string")
      ) return new RedisStoreError({ operation: "read", cause: "unexpected reply" })
      const generation = reply[0]
      if (seenEpoch === undefined || !generation.startsWith(seenEpoch)) noteEpoch(generation.slice(0, 17))
      const raw = reply[1] as string | null
      if (raw === null) return { generation, value: Option.none() }
      let json: unknown
      try {
        json = JSON.parse(raw)
      } catch {
        return new RedisStoreError({ operation: "decode", cause: "invalid JSON" })
      }
      const decoded = Schema.decodeUnknownEither(schema)(json)
      if (decoded._tag === "Right") return { generation, value: Option.some(decoded.right) }
      const paths = ParseResult.ArrayFormatter.formatErrorSync(decoded.left).map((issue) =>
        issue.path.map((key) => typeof key === "number" ? `[${key}]` : `.${String(key)}`).join("") || "."
      )
      return new RedisStoreError({ operation: "decode", cause: `not the schema's shape at ${paths.join(" ")}` })
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
          Effect.mapError(() => new RedisStoreError({ operation: "encode", cause: "not encodable" })),
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
    // Redis refusing the bump (OOM) made the script delete the generation key instead: delivered,
    // but Redis is in trouble, so it is counted and logged every time.
    const bump = (scope: string) =>
      evalScript(
        "invalidate",
        Scripts.invalidate,
        [generationKey(scope)],
        [freshGeneration(), generationTtlMs],
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
                  Effect.annotateLogs({ scope: scopeTag(scope), reason: reasonOf(error.cause) })
                )
              }),
            onSuccess: () => {
              if (state.requested !== requested) return redeliver(scope, state)
              if (pending.get(scope) === state) pending.delete(scope)
              return Effect.logInfo("Redis response cache: pending invalidation delivered").pipe(
                Effect.annotateLogs("scope", scopeTag(scope))
              )
            }
          })
        )
      })

    const startDelivery = (scope: string, state: Pending) =>
      Effect.suspend(() => {
        // While closing, the last delivery works through every pending scope: forking into the
        // closing scope would interrupt the delivery at once.
        if (phase !== "open" || state.delivering) return Effect.void
        state.delivering = true
        // Interruptible: the invalidation runs in a mutation's uninterruptible exit handler, and
        // closing the cache must not wait for a Redis that never comes back.
        return Effect.asVoid(Effect.forkIn(Effect.interruptible(redeliver(scope, state)), storeScope))
      })

    /** An invalidation that failed after close: nothing will deliver it any more. */
    const lostAfterClose = (scope: string, error: RedisStoreError) =>
      Effect.suspend(() => {
        Metrics.invalidationsLost.unsafeUpdate(1, [])
        return Effect.logError(
          "Redis response cache: an invalidation asked for after the cache closed was lost; other instances may serve that user's old entries until their TTL"
        ).pipe(Effect.annotateLogs({ scope: scopeTag(scope), reason: reasonOf(error.cause) }))
      })

    const invalidate = (scope: string) =>
      Effect.suspend(() => {
        const state = pending.get(scope)
        if (state !== undefined) {
          // Still pending: the delivery under way (or the last one, at close) sees the new count
          // and delivers once more.
          state.requested++
          return startDelivery(scope, state)
        }
        return bump(scope).pipe(
          Effect.asVoid,
          Effect.catchAll((error) =>
            Effect.suspend(() => {
              errors++
              TinkMetrics.cacheStoreErrors.unsafeUpdate(1, [])
              if (phase === "closed") return lostAfterClose(scope, error)
              // Marked before anything else runs, so reads from now on bypass Redis. Another
              // invalidation of the scope may have failed meanwhile: its mark is reused.
              const existing = pending.get(scope)
              const state: Pending = existing ?? { requested: 0, delivering: false }
              state.requested++
              pending.set(scope, state)
              return Effect.logWarning(
                "Redis response cache: invalidation not delivered; the scope bypasses Redis until it is"
              ).pipe(
                Effect.annotateLogs({ scope: scopeTag(scope), reason: reasonOf(error.cause) }),
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
              Effect.annotateLogs("reason", reasonOf(error.cause))
            ),
            lastSize
          )
        )
      )
    })

    /** Resolves when the client is connected (at once if it is). */
    const connection = Effect.async<void>((resume) => {
      if (client.isReady) return resume(Effect.void)
      const onReady = () => {
        readyWaiters.delete(onReady)
        resume(Effect.void)
      }
      readyWaiters.add(onReady)
      return Effect.sync(() => readyWaiters.delete(onReady))
    })

    /**
     * On close, a last bounded delivery of every pending invalidation: those pending when closing
     * starts (their redelivery fibers have been interrupted by then: they were forked into this
     * scope after this finalizer was added) and those that fail while it runs. It goes round until
     * nothing is pending or the time is up; like `redeliver`, it clears a scope's mark only if no
     * invalidation of it was asked for during its bump. What is still pending at the end is lost
     * for the other instances, which may serve those scopes' old entries until their TTL: logged
     * as an error with the count and the reasons (classes only), and counted.
     */
    const lastDelivery = Effect.suspend(() => {
      phase = "closing"
      const announce = pending.size === 0 ? Effect.void : Effect.logInfo(
        "Redis response cache: closing; last delivery of the pending invalidations"
      ).pipe(Effect.annotateLogs("scopes", pending.size))
      let delivered = 0
      const reasons = new Map<string, number>()
      /** One bump of every scope pending now; succeeds with whether any of them failed. */
      const round = Effect.suspend(() => {
        const batch = Array.from(pending, ([scope, state]) => ({ scope, state, requested: state.requested }))
        return Effect.forEach(batch, ({ requested, scope, state }) =>
          bump(scope).pipe(
            Effect.match({
              onFailure: (error) => {
                const reason = reasonOf(error.cause)
                reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
                return true
              },
              onSuccess: () => {
                if (state.requested === requested && pending.get(scope) === state) {
                  pending.delete(scope)
                  delivered++
                }
                return false
              }
            })
          ), { concurrency: "unbounded" }).pipe(Effect.map((failed) => failed.includes(true)))
      })
      const loop: Effect.Effect<void> = Effect.suspend(() =>
        pending.size === 0 ? Effect.void : connection.pipe(
          Effect.zipRight(round),
          // A round that failed is not repeated at once: Redis refusing (a replica, an ACL) would
          // otherwise be asked in a tight loop until the deadline.
          Effect.flatMap((failed) => failed ? Effect.sleep(lastDeliveryGap) : Effect.void),
          Effect.zipRight(loop)
        )
      )
      return announce.pipe(
        Effect.zipRight(loop),
        Effect.interruptible,
        Effect.timeoutTo({ duration: lastDeliveryWait, onTimeout: () => undefined, onSuccess: () => undefined }),
        Effect.zipRight(Effect.suspend(() => {
          phase = "closed"
          const lost = pending.size
          pending.clear()
          if (lost === 0) {
            return delivered === 0 ? Effect.void : Effect.logInfo(
              "Redis response cache: pending invalidations delivered at close"
            ).pipe(Effect.annotateLogs("scopes", delivered))
          }
          Metrics.invalidationsLost.unsafeUpdate(lost, [])
          const why = reasons.size === 0
            ? "not connected"
            : Array.from(reasons, ([reason, count]) => `${reason} x${count}`).join(", ")
          return Effect.logError(
            `Redis response cache: ${lost} pending invalidation(s) lost at close; other instances may serve those users' old entries until their TTL`
          ).pipe(Effect.annotateLogs({ lost, delivered, reasons: why }))
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
