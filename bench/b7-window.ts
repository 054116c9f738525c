/**
 * B7: the cross-instance staleness window of the near cache. Two stores on the same Redis (two
 * instances), both with a near cache; B holds the user's reads in its near cache; A invalidates
 * the user. The window is from A's invalidation returning to B's near cache dropping the user (the
 * Redis push handled), measured with `hrtime` in one process (both sides on loopback). A push
 * handled before A's reply counts as 0.
 */
import { ResponseCache } from "@tink-effect/core"
import { Duration, Effect, Exit, Schema, Scope } from "effect"
import * as NearCache from "../packages/platform-node/src/internal/redisNearCache.js"
import * as RedisStore from "../packages/platform-node/src/internal/redisStore.js"
import { summarize } from "./harness.js"

export interface B7 {
  /** Window per mutation, ns: median and p99. */
  readonly median: number
  readonly p99: number
  readonly max: number
  readonly rounds: number
  /** Rounds where B still served from its near cache after the push was handled (must be 0). */
  readonly staleAfterPush: number
}

const Versioned = Schema.Struct({ version: Schema.Number })

export const run = async (rounds = 500): Promise<B7> => {
  const scope = await Effect.runPromise(Scope.make())
  const namespace = `tink-bench-${Math.random().toString(36).slice(2, 8)}`
  const build = Effect.gen(function*() {
    const store = yield* RedisStore.make({ namespace, timeout: "1 second", nearCache: { capacity: 1000 } })
    return { store, cache: yield* ResponseCache.make(store) }
  }).pipe(Scope.extend(scope))
  const a = await Effect.runPromise(build)
  const b = await Effect.runPromise(build)
  let version = 0
  const read = (cache: ResponseCache.Service) =>
    cache.lookup({
      scope: "u:bench",
      key: "GET /api/v1/credentials/list",
      ttl: Duration.minutes(10),
      schema: Versioned,
      fetch: Effect.sync(() => ({ version: ++version }))
    })
  const windows: Array<number> = []
  let staleAfterPush = 0
  for (let round = 0; round < rounds; round++) {
    // B remembers the user: read until a read is served by its near cache.
    for (let i = 0; i < 10 && (b.store.near!.census().entries === 0); i++) await Effect.runPromise(read(b.cache))
    let dropped: bigint | undefined
    let resolve: () => void = () => undefined
    const pushed = new Promise<void>((r) => (resolve = r))
    const listener = (event: NearCache.Event) => {
      if (event._tag === "Dropped" && event.cache === b.store.near && event.by === "push") {
        dropped ??= process.hrtime.bigint()
        resolve()
      }
    }
    NearCache.listeners.add(listener)
    await Effect.runPromise(a.cache.invalidate("u:bench"))
    const returned = process.hrtime.bigint()
    await pushed
    NearCache.listeners.delete(listener)
    windows.push(Math.max(0, Number(dropped! - returned)))
    if (b.store.near!.census().entries !== 0) staleAfterPush++
  }
  await Effect.runPromise(Scope.close(scope, Exit.void))
  const sorted = [...windows].sort((x, y) => x - y)
  const summary = summarize(windows)
  return {
    median: summary.median,
    p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!,
    max: summary.max,
    rounds,
    staleAfterPush
  }
}
