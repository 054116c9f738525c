/**
 * The staleness window a near cache (issue 12, item 6) is allowed, as the model's oracle checks it.
 *
 * The contract: a read on instance B that starts after a mutation on instance A returned may still
 * get the data from before the mutation, from B's near cache, until B has handled Redis's push for
 * the scope the mutation bumped. Not after that push, not after B's near cache was cleared (a
 * reconnect, a flush, a change of data set), and never on A itself (A's mark binds at once).
 *
 * What "B has handled the push for M's bump" means, from what the test can observe in one process
 * (one clock of ticks shared by the oracle's events, the near caches' events and the stores'
 * calls), without knowing which push came from which bump:
 * - B's near cache forgets a scope `s` on a `Dropped` (a push of `s`, or B's own drop of it) and
 *   forgets everything on a `Cleared`; a fill whose read was sent before such an event is
 *   discarded (its ticket), and every later fill needs a read of `s` sent later;
 * - M's bump of `s` ran in Redis before M's invalidation of `s` returned on A (tick `post`);
 * - so B can hold data of `s` from before M's bump at tick `at` only if, after B's last forget
 *   of `s` before `at` (tick `f`), B sent a read of `s` before `post` (such a read may have run
 *   in Redis before the bump; its reply then precedes M's push on B's socket, and the push drops
 *   it). If B sent no read of `s` in `(f, post)`, B's near cache cannot hold pre-M data of `s` at
 *   `at`: the window has closed, and M's mark binds the read.
 * A second way it closes, whichever scope: B's connection answered a command sent after `post`. A
 * push and a reply share B's socket, and Redis sent M's push (to every connection tracking the
 * scope) when the bump ran, before `post`: by the time such a reply is used, B has handled M's push
 * if it was due one. A near cache holding pre-M data was due one (its fill's read made Redis track
 * the scope for B, and any change between that read and M's bump would have been pushed and
 * dropped it), so a near cache that lost the push, or lost tracking, is caught this way too.
 *
 * A read depends on the scopes it read from the store (its session's, and for a session without a
 * user id the guard scope `t:*`); M's mark binds it once the window of any scope M invalidated and
 * the read read has closed. A read that shares no scope with M's invalidations is held to M's mark
 * at once, as without a near cache.
 *
 * Sound (a correct near cache never fails it; checked against the real one in nearCache.test.ts)
 * and tight but for one case: B sent a read of `s` between its last forget of `s` and `post` (that
 * read may or may not have run before the bump), when the window stays open until B's next forget
 * of `s`, or until B's connection answers a read sent after `post`.
 *
 * A mutation whose invalidation may have gone pending (its link failed, or it took longer than the
 * invalidation bound) stays local to its instance, as in the model without a near cache.
 */
import type { ResponseCache } from "@tink-effect/core"
import { Effect, FiberRef, type Scope } from "effect"
import * as NearCache from "../../../src/internal/redisNearCache.js"
import type * as RedisStore from "../../../src/internal/redisStore.js"
import type { Window } from "./oracle.js"

/** Per instance: when its near cache forgot each scope, and when it forgot everything. */
interface Forgets {
  readonly scopes: Map<string, Array<number>>
  readonly clears: Array<number>
  /** Reads of each scope it sent to its store (any of which may fill its near cache). */
  readonly reads: Map<string, Array<number>>
  /** Reads that went to Redis and were answered: when sent, and when the answer was used. */
  readonly roundTrips: Array<{ readonly sent: number; readonly answered: number }>
}

/** One invalidation a store ran: its scope, the ticks around it, and the command (read number) it ran for. */
interface Invalidation {
  readonly scope: string
  readonly pre: number
  readonly post: number
  readonly command: number
}

/** What a read hands the oracle at its start: resolved against the store calls once it returned. */
export interface ReadContext {
  readonly instance: number
  readonly read: number
  readonly at: number
}

const lastBefore = (ticks: ReadonlyArray<number> | undefined, at: number): number | undefined => {
  if (ticks === undefined) return undefined
  let found: number | undefined
  for (const tick of ticks) if (tick < at && (found === undefined || tick > found)) found = tick
  return found
}

export class NearWindow {
  private tick = 0
  private readonly caches = new Map<NearCache.NearCache, number>()
  private readonly instances = new Map<number, Forgets>()
  /** Scopes each read (by number) read from its store. */
  private readonly readScopes = new Map<number, Set<string>>()
  private readonly invalidations: Array<Invalidation> = []
  /** Figures for the totals. */
  readonly counts = { nearHits: 0, pushes: 0, clears: 0 }

  /** `currentRead` is the fiber ref that names the command a fiber runs (reads > 0, mutations < 0). */
  constructor(readonly namespace: string, private readonly currentRead: FiberRef.FiberRef<number>) {}

  /** The shared clock: every event the window depends on takes the next tick. */
  now(): number {
    return ++this.tick
  }

  private forgets(instance: number): Forgets {
    let forgets = this.instances.get(instance)
    if (forgets === undefined) {
      forgets = { scopes: new Map(), clears: [], reads: new Map(), roundTrips: [] }
      this.instances.set(instance, forgets)
    }
    return forgets
  }

  /** The near cache of `instance` forgot `scope` (`undefined`: everything). Public for the oracle's own tests. */
  forgot(instance: number, scope: string | undefined): void {
    const forgets = this.forgets(instance)
    const at = this.now()
    if (scope === undefined) forgets.clears.push(at)
    else forgets.scopes.set(scope, [...(forgets.scopes.get(scope) ?? []), at])
  }

  /** `instance` sent a read of `scope` to its store for read number `read`; returns its tick. */
  readSent(instance: number, scope: string, read: number): number {
    const forgets = this.forgets(instance)
    const at = this.now()
    forgets.reads.set(scope, [...(forgets.reads.get(scope) ?? []), at])
    if (read > 0) this.readScopes.set(read, new Set([...(this.readScopes.get(read) ?? []), scope]))
    return at
  }

  /** A read `instance` sent at tick `sent` went to Redis, and its answer is being used now. */
  answered(instance: number, sent: number): void {
    this.forgets(instance).roundTrips.push({ sent, answered: this.now() })
  }

  /** A store's invalidation of `scope` for command `command` (mutations are negative) ran from `pre` to `post`. */
  invalidated(scope: string, pre: number, post: number, command: number): void {
    this.invalidations.push({ scope, pre, post, command })
  }

  /** Listens to every near cache of the namespace for the rest of the scope. */
  get listen(): Effect.Effect<void, never, Scope.Scope> {
    const listener = (event: NearCache.Event) => {
      if (event.namespace !== this.namespace) return
      const instance = this.caches.get(event.cache)
      if (instance === undefined) return
      if (event._tag === "Dropped") {
        if (event.by === "push") this.counts.pushes++
        this.forgot(instance, event.scope)
      } else if (event._tag === "Cleared") {
        this.counts.clears++
        this.forgot(instance, undefined)
      }
    }
    return Effect.asVoid(Effect.acquireRelease(
      Effect.sync(() => NearCache.listeners.add(listener)),
      () => Effect.sync(() => NearCache.listeners.delete(listener))
    ))
  }

  /**
   * The store of `instance` as the cache sees it, recording the calls the window depends on. A
   * new store (also one replacing a closed instance) starts with an empty near cache: a clear.
   */
  attach(instance: number, store: RedisStore.RedisStore): ResponseCache.Store {
    const near = store.near
    if (near !== undefined) this.caches.set(near, instance)
    this.forgot(instance, undefined)
    return {
      read: (scope, key, schema) =>
        Effect.flatMap(FiberRef.get(this.currentRead), (read) => {
          const sent = this.readSent(instance, scope, read)
          // Asked just before the store asks it, in the same synchronous step: the same answer.
          if (near?.get(scope, key) !== undefined) {
            this.counts.nearHits++
            return store.read(scope, key, schema)
          }
          // Not from the near cache: from Redis, unless the store bypassed it (no generation).
          return Effect.tap(store.read(scope, key, schema), (answer) => {
            if (answer.generation !== undefined) this.answered(instance, sent)
          })
        }),
      write: store.write,
      invalidate: (scope) =>
        Effect.flatMap(FiberRef.get(this.currentRead), (command) => {
          const pre = this.now()
          return Effect.ensuring(
            store.invalidate(scope),
            Effect.sync(() => this.invalidated(scope, pre, this.now(), command))
          )
        }),
      size: store.size,
      errors: store.errors
    }
  }

  /**
   * Whether `instance`'s near cache can no longer hold data of `scope` from before a bump that had
   * run by tick `post`, for a read that started at tick `at` (see the module comment).
   */
  settled(instance: number, scope: string, post: number, at: number): boolean {
    const forgets = this.instances.get(instance)
    if (forgets === undefined) return true
    if (forgets.roundTrips.some((trip) => trip.sent > post && trip.answered < at)) return true
    const last = Math.max(
      lastBefore(forgets.scopes.get(scope), at) ?? Number.NEGATIVE_INFINITY,
      lastBefore(forgets.clears, at) ?? Number.NEGATIVE_INFINITY
    )
    if (last === Number.NEGATIVE_INFINITY) return false
    return !(forgets.reads.get(scope) ?? []).some((sent) => sent > last && sent < post)
  }

  /**
   * The window of mutation `command` (its read number, negative), which started at tick `start`
   * and returned at tick `end`: it closes for a read once the read's instance has settled one of the
   * scopes the mutation invalidated and the read read.
   */
  window(command: number, start: number, end: number): Window {
    const own = this.invalidations.filter((inv) => inv.command === command && inv.post <= end)
    // A mutation that joined another's (a shared refresh) ran no invalidation of its own: the
    // ones that completed while it ran stand for it (each ran after Tink had changed the data).
    const mine = own.length > 0 ? own : this.invalidations.filter((inv) => inv.post > start && inv.post <= end)
    const posts = new Map<string, number>()
    for (const inv of mine) posts.set(inv.scope, Math.max(posts.get(inv.scope) ?? 0, inv.post))
    return {
      closes: (context) => {
        const read = context as ReadContext
        const scopes = [...(this.readScopes.get(read.read) ?? [])].filter((scope) => posts.has(scope))
        // Nothing in common with what the mutation invalidated: held to it at once.
        if (scopes.length === 0) return true
        return scopes.some((scope) => this.settled(read.instance, scope, posts.get(scope)!, read.at))
      }
    }
  }
}
