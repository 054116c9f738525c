import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import { BasicClientSideCache, createClient, type RedisArgument } from "redis"
import { bounded, commandOptions } from "./redisCommand.js"
import { reasonOf, type RedisStoreError } from "./redisErrors.js"
import * as Scripts from "./redisScripts.js"
import type { Bound } from "./redisSettings.js"
import * as RedisUrl from "./redisUrl.js"

/**
 * The node-redis connection of one store: every command goes through it with a bounded wait.
 *
 * @internal
 */
export interface Connection {
  readonly isReady: () => boolean
  /** Resolves when the client is connected (at once if it is). */
  readonly ready: Effect.Effect<void>
  /** One raw command, e.g. `SCAN`, waiting at most `limit` (default: the read bound). */
  readonly send: (
    operation: string,
    args: ReadonlyArray<string>,
    limit?: Bound
  ) => Effect.Effect<unknown, RedisStoreError>
  /**
   * Every server holding the store's data, each as its own `send`: the one Redis, or each
   * primary of a cluster (for SCAN, which walks one server).
   */
  readonly primaries: () => ReadonlyArray<
    (operation: string, args: ReadonlyArray<string>, limit?: Bound) => Effect.Effect<unknown, RedisStoreError>
  >
  /**
   * One script (see `Scripts.run`), waiting at most `limit` (default: the read bound). On a
   * cluster it goes to the primary of `keys[0]`'s slot (any primary without keys).
   */
  readonly evalScript: (
    operation: string,
    script: Scripts.Script,
    keys: ReadonlyArray<string>,
    args: ReadonlyArray<string>,
    limit?: Bound
  ) => Effect.Effect<unknown, RedisStoreError>
}

/**
 * What a connection with `CLIENT TRACKING` reports to the store's near cache.
 *
 * @internal
 */
export interface Tracking {
  /** Redis pushed an invalidation of `key`; `null`: of every key (FLUSHALL, FLUSHDB, a resync). */
  readonly pushed: (key: string | null) => void
  /** The socket failed or closed: invalidations may have been lost with it. */
  readonly lost: () => void
  /**
   * Redis Cluster: node-redis starts or ends a discovery of the topology (slots may now be served
   * by a node whose connection never tracked our reads of them).
   */
  readonly moved?: () => void
}

/**
 * node-redis's hook for client-side caching, used for its lifecycle only: it turns tracking on in
 * the handshake of every (re)connection, before the connection is ready (so every command is
 * tracked), and reports pushes and socket failures. Its own command cache is never used: the
 * store sends raw commands, which node-redis does not cache. Not NOLOOP: a connection's own
 * writes of a key it tracks (a read script creating the generation, a write extending its TTL)
 * end the tracking of that key too, and only the push back tells the near cache so.
 */
class TrackingHooks extends BasicClientSideCache {
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
}

/**
 * How long building the store waits for the first connection before serving misses.
 *
 * @internal
 */
export const connectWait = Duration.seconds(1)
/**
 * How long closing waits for replies still due before the socket is destroyed.
 *
 * @internal
 */
export const closeWait = Duration.seconds(1)

/**
 * Reconnects for ever, backing off to at most one second between attempts.
 *
 * @internal
 */
export const reconnectStrategy = (retries: number): number =>
  Math.min(1000, 20 * 2 ** Math.min(retries, 6)) + Math.floor(Math.random() * 20)

/**
 * Opens the connection, closed (bounded by `closeWait`, then destroyed) when the scope closes.
 * `check` runs on every (re)connection. Building waits for the first connection and its check
 * (at most `connectWait`), so a fresh store can serve hits at once, and a server that will not
 * serve the cache is named as such. If that does not happen in time, it is logged, and commands
 * fail at once (reads are misses) while node-redis keeps reconnecting in the background.
 * With `tracking`, the connection speaks RESP3 with `CLIENT TRACKING` on (see `TrackingHooks`).
 *
 * @internal
 */
export const make = (
  url: string,
  readBound: Bound,
  check: (connection: Connection) => Effect.Effect<void>,
  tracking?: Tracking
): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    // Logs name the server (host and port) so an operator knows which one; never the password.
    const address = RedisUrl.address(url)
    const readyWaiters = new Set<() => void>()
    const checkWaiters = new Set<() => void>()
    // Fail at once while disconnected instead of queueing: a cache command that cannot run now is
    // a miss, not something to replay later (possibly on another server).
    const client = yield* Effect.acquireRelease(
      Effect.sync(() =>
        tracking === undefined
          ? createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy } })
          // RESP3: invalidations arrive on this same connection, in order with the replies.
          : createClient({
            url,
            disableOfflineQueue: true,
            socket: { reconnectStrategy },
            RESP: 3,
            clientSideCache: new TrackingHooks(tracking)
          }) as unknown as ReturnType<typeof createClient>
      ),
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

    const connection: Connection = {
      isReady: () => client.isReady,
      ready: Effect.async<void>((resume) => {
        if (client.isReady) return resume(Effect.void)
        const onReady = () => {
          readyWaiters.delete(onReady)
          resume(Effect.void)
        }
        readyWaiters.add(onReady)
        return Effect.sync(() => readyWaiters.delete(onReady))
      }),
      send: (operation, args, limit = readBound) =>
        bounded(operation, () => client.sendCommand(args, commandOptions(limit)), limit),
      primaries: () => [connection.send],
      evalScript: (operation, script, keys, args, limit = readBound) =>
        bounded(operation, () => Scripts.run(client, script, keys, args, commandOptions(limit)), limit)
    }

    // node-redis emits 'error' on every failed (re)connection; without a listener the process
    // would crash. Log the loss of the connection once, and its return.
    let up = false
    let lost = false
    client.on("error", (error: unknown) => {
      if (!up) return
      up = false
      lost = true
      runFork(
        Effect.logWarning(`Redis response cache: connection to ${address} lost, serving misses until it is back`).pipe(
          Effect.annotateLogs({ address, reason: reasonOf(error) })
        )
      )
    })
    client.on("ready", () => {
      for (const waiter of readyWaiters) waiter()
      runFork(Effect.tap(check(connection), () => checkWaiters.forEach((waiter) => waiter())))
      if (up) return
      up = true
      runFork(
        lost
          ? Effect.logInfo(`Redis response cache: connection to ${address} back`)
          : Effect.logDebug(`Redis response cache: connected to ${address}`)
      )
    })

    // `connect()` settles only once connected (or rejects when closed): its outcome is not awaited.
    let firstFailure = "timeout"
    const reached = yield* Effect.async<boolean>((resume) => {
      const onChecked = () => {
        detach()
        resume(Effect.succeed(true))
      }
      const onError = (error: unknown) => {
        firstFailure = reasonOf(error)
        detach()
        resume(Effect.succeed(false))
      }
      const detach = () => {
        checkWaiters.delete(onChecked)
        client.off("error", onError)
      }
      checkWaiters.add(onChecked)
      client.once("error", onError)
      client.connect().catch(() => undefined)
      return Effect.sync(detach)
    }).pipe(
      Effect.interruptible,
      Effect.timeoutTo({ duration: connectWait, onTimeout: () => false, onSuccess: (reached) => reached })
    )
    if (!reached) {
      yield* Effect.logWarning(
        `Redis response cache: Redis at ${address} not reachable yet, serving misses until it is`
      ).pipe(Effect.annotateLogs({ address, reason: firstFailure }))
    }
    return connection
  })
