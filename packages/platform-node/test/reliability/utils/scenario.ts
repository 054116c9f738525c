/**
 * Runs a history (see histories.ts) through several cache instances and checks it against the
 * oracle: every command as its own fiber at its time, the fault events between them, then Tink's
 * state against what the mutations asked for. Shared by the memory (simulated clock) and Redis
 * (live) variants.
 *
 * A history is a list of commands, each through a session: the user's own, or a mismatched one
 * that names one user and holds another user's token (finding 4 of issue 10). Alongside, a list
 * of fault episodes the world applies between commands: an instance whose store reads fail or
 * time out (generation-less reads), Redis refusing writes (OOM), Redis rolled back to an older
 * snapshot, an instance's layer closed with invalidations pending and replaced by a new one.
 */
import { HttpClient } from "@effect/platform"
import { type ResponseCache, type TinkClient, type TinkError, TinkUser } from "@tink-effect/core"
import type { Sandbox } from "@tink-effect/sandbox"
import { Users } from "@tink-effect/users"
import {
  Cause,
  Chunk,
  Clock,
  type Context,
  Deferred,
  Effect,
  Exit,
  Fiber,
  FiberRef,
  Option,
  Random,
  Redacted
} from "effect"
import type { Command, Fault, Op, Scenario } from "./histories.js"
import type { NearWindow, ReadContext } from "./nearWindow.js"
import { everyone, type Observed, Oracle, type Outcome, type ReadKey, TinkLedger } from "./oracle.js"

/** The sandbox's ids as the operations take them (branded where the API brands them). */
const asCredentialId = (id: string) => id as Parameters<typeof Users.getCredential>[0]
const asUserId = (id: string) => id as Parameters<typeof Users.deleteUser>[0]

export * from "./histories.js"

/** Which read (by number) the current fiber serves; the upstream request of a flight inherits it. */
export const currentRead: FiberRef.FiberRef<number> = FiberRef.unsafeMake(0)

/**
 * Upstream GETs per read number, counted at the transport of every instance. It also delays every
 * answer to a GET by a random 0 to `responseDelay` ms after Tink has processed it (the way back
 * over a slow link), so a read Tink answered before a mutation may still be in flight after the
 * mutation returned: the window in which joining an old flight returns old data.
 */
export class Attribution {
  readonly gets = new Map<number, number>()
  /** GETs made outside any read (none expected): method and path, to explain a failed bound. */
  readonly outside: Array<string> = []
  total = 0

  constructor(readonly responseDelay = 0) {}

  wrap(client: HttpClient.HttpClient): HttpClient.HttpClient {
    const counted = HttpClient.tapRequest(
      client,
      (request) =>
        request.method !== "GET" ? Effect.void : Effect.map(FiberRef.get(currentRead), (read) => {
          this.total++
          this.gets.set(read, (this.gets.get(read) ?? 0) + 1)
          if (read === 0) this.outside.push(new URL(request.url).pathname)
        })
    )
    if (this.responseDelay <= 0) return counted
    const delay = this.responseDelay
    return HttpClient.transform(
      counted,
      (response, request) =>
        request.method !== "GET"
          ? response
          : Effect.tap(response, () => Effect.flatMap(Random.nextIntBetween(0, delay + 1), Effect.sleep))
    )
  }
}

export type Instance = Context.Context<TinkClient.TinkClient | ResponseCache.ResponseCache>

export interface World {
  readonly sandbox: Sandbox.Service
  readonly instances: ReadonlyArray<Instance>
  readonly attribution: Attribution
  /** Applies a fault; the world waits until it has taken effect (e.g. Redis restarted and reached again). */
  readonly fault?: ((fault: Fault) => Effect.Effect<void>) | undefined
  /**
   * Closes instance `index`'s layer (after restoring its link to the store) and builds a new
   * instance in its place. `delivered` is false when the store could not be reached in time to
   * deliver what was pending (then nothing can be required of the other instances).
   */
  readonly replace?:
    | ((index: number) => Effect.Effect<{ readonly instance: Instance; readonly delivered: boolean }>)
    | undefined
  /**
   * Whether an instance whose store is degraded may leave a mutation's invalidation pending
   * (Redis, C9): its marks then bind that instance only, until it closes.
   */
  readonly pendingWhenDegraded: boolean
  /**
   * The store's invalidation bound: a mutation that took at least this long may have had its
   * invalidation time out and go pending (C9) without any fault, e.g. on a loaded machine.
   */
  readonly invalidationTimeoutMillis?: number | undefined
  /**
   * The stores have near caches (issue 12): a mutation's mark binds other instances only once their
   * window closes (see nearWindow.ts); reads are due to be hits only after a read on the same
   * instance (a near cache may remember a miss another instance's write does not push).
   */
  readonly near?: NearWindow | undefined
  /**
   * Whether the store left an invalidation of mutation `mutation` (its `currentRead`, `-1 - index`)
   * pending: asked of the store itself, right after the mutation's invalidations. A world that
   * answers it needs no guess from faults or durations (`pendingWhenDegraded`,
   * `invalidationTimeoutMillis`): the mutation's mark binds its own instance only (C9), until...
   */
  readonly wentPending?: ((mutation: number) => boolean) | undefined
  /**
   * ...the instance has nothing pending any more (asked before each read): every invalidation it
   * left pending has then reached the store, and its marks bind every instance (`Oracle.deliver`).
   */
  readonly settled?: ((instance: number) => boolean) | undefined
}

export interface Report {
  readonly reads: number
  readonly mutations: number
  readonly upstreamGets: number
  /** Distinct (instance, session, key, generation) tuples the successful reads may have used. */
  readonly distinctReads: number
  readonly failedReads: number
  /** GETs made by mutations (e.g. an ownership check before changing a credential). */
  readonly mutationGets: number
  readonly expectedHits: number
  readonly mismatchedCommands: number
  /** Reads through an instance whose store was degraded (generation-less reads). */
  readonly degradedReads: number
  readonly events: number
  /** With near caches: reads that started inside some mutation's window (see nearWindow.ts). */
  readonly readsInWindow: number
  /** ... and of those, reads that returned data from before the mutation (allowed). */
  readonly staleInWindow: number
  /** Mutations whose invalidation went pending (their marks bound their instance only, for a while). */
  readonly pendingMutations: number
  /** Times an instance's pending invalidations were all seen delivered (`World.settled`). */
  readonly deliveries: number
  readonly violations: ReadonlyArray<string>
  /** Per read: label, upstream GETs, the tuples it counted (to explain a failed upstream bound). */
  readonly trace: ReadonlyArray<string>
}

const definite = (error: TinkError.TinkError): boolean =>
  error._tag === "TinkNotFoundError" || error._tag === "TinkAuthenticationError" ||
  error._tag === "TinkValidationError" || error._tag === "TinkRateLimitError" ||
  (error._tag === "TinkApiError" && error.status !== undefined && error.status >= 400 && error.status < 500 &&
    error.status !== 408) ||
  (error._tag === "TinkNetworkError" && !error.mayHaveReachedTink)

/** The typed failure of an exit, or the pretty cause of a defect. */
export const errorOf = (exit: Exit.Exit<unknown, TinkError.TinkError>): TinkError.TinkError | string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = Chunk.head(Cause.failures(exit.cause))
  return Option.isSome(failure) ? failure.value : Cause.pretty(exit.cause)
}

/** Classifies a mutation's exit as C4 does. */
export const outcomeOf = (exit: Exit.Exit<unknown, TinkError.TinkError>): Outcome => {
  if (Exit.isSuccess(exit)) return "success"
  const error = errorOf(exit)
  return typeof error === "object" && definite(error) ? "rejected" : "ambiguous"
}

/** Errors a read or mutation may legitimately end with when no Tink fault is injected. */
const allowedErrors: Record<Op, ReadonlyArray<string>> = {
  list: ["TinkAuthenticationError"],
  get: ["TinkAuthenticationError", "TinkNotFoundError"],
  delete: ["TinkAuthenticationError", "TinkNotFoundError"],
  refresh: ["TinkAuthenticationError", "TinkNotFoundError", "TinkApiError"],
  // Two deleteUser of one user racing: the second's grant or code exchange finds no user.
  deleteUser: ["TinkAuthenticationError", "TinkNotFoundError", "TinkApiError", "TinkValidationError"]
}

/**
 * Through a mismatched session, also: Tink refusing the other user's credential (404), the
 * library refusing the session (validation), and `deleteUser` of a user already deleted, whose
 * grant Tink refuses (404, or a 4xx of the grant).
 */
const allowedMismatched: ReadonlyArray<string> = [
  "TinkAuthenticationError",
  "TinkNotFoundError",
  "TinkValidationError",
  "TinkApiError"
]

interface Seeded {
  readonly userId: string
  readonly credentials: ReadonlyArray<string>
  readonly statusUpdated: ReadonlyMap<string, number | null>
  readonly token: Redacted.Redacted<string>
  readonly session: TinkUser.Session
  readonly withUserId: boolean
}

/** Seeds the users, then runs every command as its own fiber, started `gap` ms after the one before. */
export const run = (
  scenario: Scenario,
  world: World,
  options: {
    /** Waits for the command fibers: joining them (live), or driving the simulated clock (memory). */
    readonly await: (fibers: ReadonlyArray<Fiber.RuntimeFiber<void>>) => Effect.Effect<void>
    /** Unexpected errors are violations when no Tink fault is injected. */
    readonly faults: boolean
    /** Milliseconds between seeding and the first command, so a refresh is never stamped at the seeding instant. */
    readonly startDelay: number
    /**
     * Check single flight read by read: a read that starts while an identical read (same instance,
     * session and key) that began with no mutation in flight is still running, and succeeds, must
     * make no upstream request of its own. Exact for a synchronous store (memory) only: with Redis
     * the store read is asynchronous, so the first flight may end between the store read and the join.
     */
    readonly singleFlight: boolean
    /** Check that reads due to be hits make no upstream request (off when the store fails on purpose). */
    readonly hits?: boolean | undefined
    /** See `TinkLedger`: whether a credential mutation may act on the token owner's credentials. */
    readonly tokenMayAct?: boolean | undefined
    /**
     * After each mutation that succeeded, read the list through the next instance at once, with the
     * same session: a read that starts as the mutation returns, inside a near cache's window (issue
     * 12), which generated histories rarely hit otherwise. Labelled `#<index>'`.
     */
    readonly chase?: boolean | undefined
  }
): Effect.Effect<Report> =>
  Effect.gen(function*() {
    const { sandbox } = world
    const checkHits = options.hits ?? true
    const seeded: Array<Seeded> = []
    for (const spec of scenario.users) {
      const { userId } = yield* sandbox.createUser({})
      const credentials: Array<string> = []
      const statusUpdated = new Map<string, number | null>()
      for (let i = 0; i < spec.credentials; i++) {
        const credential = yield* sandbox.addCredential(userId)
        credentials.push(credential.id)
        statusUpdated.set(credential.id, credential.statusUpdated)
      }
      const token = Redacted.make(
        yield* sandbox.issueUserToken(userId, [
          "credentials:read",
          "credentials:write",
          "credentials:refresh",
          "user:delete"
        ])
      )
      // Sessions are built up front: the token hash is a real promise, which would perturb the
      // interleaving under the simulated clock.
      const session = yield* TinkUser.make({ userId: spec.withUserId ? userId : undefined, accessToken: token })
      seeded.push({ userId, credentials, statusUpdated, token, session, withUserId: spec.withUserId })
    }
    /** Session naming user `named` with user `owner`'s token. */
    const mismatchedSessions = new Map<string, TinkUser.Session>()
    for (const [named, namedUser] of seeded.entries()) {
      for (const [owner, ownerUser] of seeded.entries()) {
        if (named === owner) continue
        mismatchedSessions.set(
          `${named} ${owner}`,
          yield* TinkUser.make({ userId: namedUser.userId, accessToken: ownerUser.token })
        )
      }
    }
    const oracle = new Oracle(seeded.map((user) => ({ userId: user.userId, credentialIds: user.credentials })))
    const ledger = new TinkLedger(
      seeded.map((user) => ({
        userId: user.userId,
        credentials: user.credentials.map((id) => ({ id, statusUpdated: user.statusUpdated.get(id) ?? null }))
      })),
      options.tokenMayAct ?? false
    )
    const violations: Array<string> = []
    const tuples = new Set<string>()
    let reads = 0
    let mutations = 0
    let failedReads = 0
    let expectedHits = 0
    let readNumber = 0
    let mismatchedCommands = 0
    let degradedReads = 0
    let eventsRun = 0
    let staleInWindow = 0
    let readsInWindow = 0
    let pendingMutations = 0
    let deliveries = 0
    /** Instances that left an invalidation pending and were not seen settled since. */
    const unsettled = new Set<number>()
    const near = world.near
    /**
     * Per cache scope: mutations that returned, not definitely rejected, through a session of that
     * scope or (deleteUser) naming its user. Each certainly moved the scope's generation, whatever
     * else the design invalidates: the lower bound of a read's generation.
     */
    const certainBumps = new Map<string, number>()
    const trace: Array<string> = []
    const readLog: Array<{
      readonly label: string
      readonly read: number
      readonly group: string
      readonly users: ReadonlyArray<number>
      readonly startSeq: number
      readonly endSeq: number
      readonly clean: boolean
      readonly success: boolean
      readonly degraded: boolean
    }> = []

    // The instances as they are now: a slot being replaced holds its commands until the new one is up.
    const slots = world.instances.map((instance) => ({
      instance,
      inFlight: 0,
      replacing: undefined as Deferred.Deferred<void> | undefined,
      /** Degraded store, and a count of every change of that, so a command can tell it overlapped one. */
      degraded: false,
      changes: 0
    }))
    const acquire = (index: number) =>
      Effect.gen(function*() {
        const slot = slots[index]!
        while (slot.replacing !== undefined) yield* Deferred.await(slot.replacing)
        slot.inFlight++
        return slot
      })

    const execute = (index: number, command: Command, chaser = false): Effect.Effect<void> =>
      Effect.gen(function*() {
        const named = command.user % seeded.length
        const tokenOwner = (named + command.mismatch) % seeded.length
        const mismatched = tokenOwner !== named
        const namedUser = seeded[named]!
        const ownerUser = seeded[tokenOwner]!
        const session = mismatched ? mismatchedSessions.get(`${named} ${tokenOwner}`)! : namedUser.session
        const credentialUser = mismatched && !command.tokenOwnersCredential ? namedUser : ownerUser
        const credentialId = credentialUser.credentials[command.credential % credentialUser.credentials.length]!
        const instanceIndex = command.instance % slots.length
        // deleteUser only through sessions that carry a user id (see RELIABILITY.md, token-only sessions).
        const op: Op = command.op === "deleteUser" && !mismatched && !namedUser.withUserId ? "list" : command.op
        if (mismatched) mismatchedCommands++
        const who = mismatched ? `session naming user ${named} with user ${tokenOwner}'s token` : `user ${named}`
        const label =
          `#${index}${chaser ? "'" : ""} ${op}${
            op === "list" || op === "deleteUser" ? "" : ` ${credentialId}`
          } ${who}` +
          ` instance ${instanceIndex}`
        const slot = yield* acquire(instanceIndex)
        const asUser = <A>(effect: Effect.Effect<A, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser>) =>
          effect.pipe(Effect.provideService(TinkUser.TinkUser, session), Effect.provide(slot.instance))
        const allowed = (error: TinkError.TinkError | string) => {
          const tag = typeof error === "object" ? error._tag : String(error)
          if (options.faults) return true
          if (mismatched) return allowedMismatched.includes(tag)
          return allowedErrors[op].includes(tag) &&
            (tag !== "TinkApiError" || (typeof error === "object" && (op === "refresh"
              ? error.status === 409
              : error.status !== undefined && error.status >= 400 && error.status < 500)))
        }
        const sessionKey = `${named} ${tokenOwner} ${mismatched || namedUser.withUserId ? "u" : "t"}`
        const scopeKey = mismatched || namedUser.withUserId ? `u:${named}` : `t:${tokenOwner}`

        if (op === "list" || op === "get") {
          reads++
          const read = ++readNumber
          const key: ReadKey = op === "list" ? { _tag: "list" } : { _tag: "get", credentialId }
          const degraded = slot.degraded
          const changes = slot.changes
          const generationLow = certainBumps.get(scopeKey) ?? 0
          if (degraded) degradedReads++
          // Tink answers for the token: the read returns (or must not return) the token owner's data.
          const context: ReadContext | undefined = near === undefined
            ? undefined
            : { instance: instanceIndex, read, at: near.now() }
          if (world.settled !== undefined) {
            for (const instance of unsettled) {
              if (!world.settled(instance)) continue
              unsettled.delete(instance)
              deliveries++
              oracle.deliver(instance)
            }
          }
          const ticket = oracle.readStarted(tokenOwner, key, {
            session: near === undefined ? sessionKey : `${sessionKey} @${instanceIndex}`,
            context,
            // A session without a user id cannot be tied to a user: any mutation may reach it.
            touches: mismatched || namedUser.withUserId ? [named] : [named, everyone],
            instance: instanceIndex
          })
          const exit = yield* Effect.exit(
            asUser(
              op === "list"
                ? Users.listCredentials()
                : Effect.map(Users.getCredential(asCredentialId(credentialId)), (credential) => [credential])
            ).pipe(Effect.locally(currentRead, read))
          )
          slot.inFlight--
          const answer: ReadonlyArray<Observed> | undefined = Exit.isSuccess(exit) ? exit.value : undefined
          const wasDegraded = degraded || slot.degraded || slot.changes !== changes
          const verdict = oracle.readReturned(ticket, answer, !wasDegraded)
          readLog.push({
            label,
            read,
            group: `${instanceIndex} ${sessionKey} ${op} ${op === "get" ? credentialId : ""}`,
            users: ticket.touches,
            startSeq: ticket.startSeq,
            endSeq: verdict.endSeq,
            clean: ticket.clean,
            success: answer !== undefined,
            degraded: wasDegraded
          })
          if (verdict.crossUser !== undefined) violations.push(`${label}: CROSS-USER ${verdict.crossUser}`)
          if (verdict.stale !== undefined) violations.push(`${label}: STALE ${verdict.stale}`)
          if (verdict.inWindow === true) readsInWindow++
          if (verdict.staleInWindow !== undefined) {
            staleInWindow++
            trace.push(`${label}: within a near cache's window: ${verdict.staleInWindow}`)
          }
          // A session naming a user never caches an empty list: nothing in it ties it to the user.
          const unattributable = (mismatched || namedUser.withUserId) && answer !== undefined && answer.length === 0
          if (verdict.expectHit && checkHits && !wasDegraded && !unattributable) {
            expectedHits++
            const upstream = world.attribution.gets.get(read) ?? 0
            if (upstream > 0) {
              violations.push(`${label}: made ${upstream} upstream request(s) where a cached answer was due`)
            }
          }
          trace.push(
            `${label}: ${world.attribution.gets.get(read) ?? 0} GET, ${
              answer === undefined
                ? `failed ${String((errorOf(exit) as { _tag?: string })?._tag ?? errorOf(exit))}`
                : wasDegraded
                ? "degraded"
                : `g ${generationLow}..${verdict.generations[1]}`
            }`
          )
          if (answer === undefined) {
            failedReads++
            const error = errorOf(exit)!
            if (!allowed(error)) {
              violations.push(
                `${label}: unexpected ${typeof error === "object" ? `${error._tag}: ${error.message}` : error}`
              )
            }
          } else if (wasDegraded) {
            // A read without a generation may make its own request: one tuple of its own.
            tuples.add(`read ${read}`)
          } else {
            // Generations counted as the sum of the bumps of every scope the read may depend on:
            // at least the certain bumps of its own scope, at most every mutation touching its users.
            for (let g = generationLow; g <= Math.max(generationLow, verdict.generations[1]); g++) {
              tuples.add(`${instanceIndex} ${sessionKey} ${op} ${op === "get" ? credentialId : ""} ${g}`)
            }
          }
          return
        }

        mutations++
        // Whose data Tink changes: a credential's owner (Tink refuses another user's, 404), or
        // for deleteUser the user named.
        const changed = op === "deleteUser" ? named : (oracle.ownerOf(credentialId) ?? tokenOwner)
        ledger.attempt(
          namedUser.userId,
          ownerUser.userId,
          op,
          op === "deleteUser" ? undefined : credentialId,
          label
        )
        const degraded = slot.degraded
        const changes = slot.changes
        const startedAt = yield* Clock.currentTimeMillis
        const startTick = near?.now() ?? 0
        const ticket = oracle.mutationStarted(
          changed,
          op,
          op === "deleteUser" ? undefined : credentialId,
          yield* Clock.currentTimeMillis,
          [named, tokenOwner]
        )
        const exit = yield* Effect.exit(
          (op === "delete"
            ? asUser(Users.deleteCredential(asCredentialId(credentialId)))
            : op === "refresh"
            ? asUser(Users.refreshCredential(asCredentialId(credentialId)))
            : asUser(Users.deleteUser(asUserId(namedUser.userId)))).pipe(Effect.locally(currentRead, -1 - index))
        )
        slot.inFlight--
        const took = (yield* Clock.currentTimeMillis) - startedAt
        const tookLong = world.invalidationTimeoutMillis !== undefined && took >= world.invalidationTimeoutMillis
        const pending =
          (world.pendingWhenDegraded && (degraded || slot.degraded || slot.changes !== changes || tookLong)) ||
          (world.wentPending?.(-1 - index) ?? false)
        if (pending) pendingMutations++
        if (pending && world.settled !== undefined) unsettled.add(instanceIndex)
        const outcome = outcomeOf(exit)
        trace.push(`${label}: ${outcome}${pending ? " (pending)" : ""} in ${took} ms`)
        oracle.mutationReturned(
          ticket,
          outcome,
          pending ? instanceIndex : undefined,
          near === undefined ? undefined : {
            origin: instanceIndex,
            window: near.window(-1 - index, startTick, near.now())
          }
        )
        if (outcome !== "rejected") {
          const bumped = new Set([scopeKey, ...(op === "deleteUser" ? [`u:${named}`] : [])])
          for (const scope of bumped) certainBumps.set(scope, (certainBumps.get(scope) ?? 0) + 1)
        }
        const error = errorOf(exit)
        if (error !== undefined && !allowed(error)) {
          violations.push(
            `${label}: unexpected ${typeof error === "object" ? `${error._tag}: ${error.message}` : error}`
          )
        }
        if (options.chase === true && outcome === "success" && slots.length > 1) {
          yield* execute(index, { ...command, op: "list", instance: instanceIndex + 1 }, true)
        }
      })

    const applyFault = (fault: Fault): Effect.Effect<void> =>
      Effect.gen(function*() {
        eventsRun++
        if (fault._tag === "close") {
          const slot = slots[fault.instance]!
          const done = yield* Deferred.make<void>()
          slot.replacing = done
          // Drain: a rolling deploy stops sending work to the instance, then closes it.
          while (slot.inFlight > 0) yield* Effect.sleep("1 millis")
          slot.changes++
          const replaced = world.replace === undefined
            ? { instance: slot.instance, delivered: true }
            : yield* world.replace(fault.instance)
          slot.instance = replaced.instance
          slot.degraded = false
          slot.changes++
          // The closed instance's pending invalidations must have reached everyone (finding 5).
          if (replaced.delivered) oracle.deliver(fault.instance)
          slot.replacing = undefined
          yield* Deferred.succeed(done, undefined)
          return
        }
        const touched = fault._tag === "degrade" || fault._tag === "restore"
          ? [slots[fault.instance]!]
          : fault._tag === "rollback"
          ? slots
          : []
        // Marked before the fault, cleared only once the world says it is over.
        for (const slot of touched) {
          slot.degraded = true
          slot.changes++
        }
        yield* world.fault?.(fault) ?? Effect.void
        if (fault._tag !== "degrade") {
          for (const slot of touched) {
            slot.degraded = false
            slot.changes++
          }
        }
      })

    // A command due at or after an event starts only once the event has taken effect (Redis
    // filled, restarted and reached again...): the history's order is the generated one.
    const applied = yield* Effect.forEach(scenario.events, () => Deferred.make<void>())
    const gate = (index: number) =>
      Effect.forEach(
        scenario.events.flatMap((event, e) => event.at <= index ? [applied[e]!] : []),
        Deferred.await,
        { discard: true }
      )
    let start = options.startDelay
    const fibers: Array<Fiber.RuntimeFiber<void>> = []
    const times: Array<number> = []
    for (const [index, command] of scenario.commands.entries()) {
      start += command.gap
      times.push(start)
      const at = start
      fibers.push(
        yield* Effect.fork(Effect.zipRight(Effect.sleep(at), Effect.zipRight(gate(index), execute(index, command))))
      )
    }
    if (scenario.events.length > 0) {
      const events = Effect.gen(function*() {
        let now = 0
        for (const [e, event] of scenario.events.entries()) {
          const at = times[event.at] ?? now
          if (at > now) yield* Effect.sleep(at - now)
          now = Math.max(now, at)
          yield* applyFault(event.fault)
          yield* Deferred.succeed(applied[e]!, undefined)
        }
        // Whatever the history left degraded is restored, so the checks below see the world whole.
        for (const [index, slot] of slots.entries()) {
          if (slot.degraded) yield* applyFault({ _tag: "restore", instance: index })
        }
      })
      fibers.push(yield* Effect.fork(events))
    }
    yield* options.await(fibers)
    if (options.singleFlight) {
      for (const later of readLog) {
        const upstream = world.attribution.gets.get(later.read) ?? 0
        if (upstream === 0 || !later.success || later.degraded) continue
        const first = readLog.find((earlier) =>
          earlier.group === later.group && earlier.clean && earlier.success && !earlier.degraded &&
          earlier.startSeq < later.startSeq && later.startSeq < earlier.endSeq &&
          !later.users.some((user) => oracle.mutationStartedBetween(user, earlier.startSeq, later.endSeq))
        )
        if (first !== undefined) {
          violations.push(
            `${later.label}: made ${upstream} upstream request(s) while an identical read (${first.label}) was in flight`
          )
        }
      }
    }
    // Tink's own state: nobody but the named users changed (finding 4).
    const exists = new Map<string, boolean>()
    const credentials = new Map<string, ReadonlyArray<{ readonly id: string; readonly statusUpdated: number | null }>>()
    for (const user of seeded) {
      const alive = yield* sandbox.userExists(user.userId)
      exists.set(user.userId, alive)
      if (alive) credentials.set(user.userId, yield* sandbox.credentials(user.userId))
    }
    violations.push(...ledger.check({
      exists: (userId) => exists.get(userId) ?? false,
      credentials: (userId) => credentials.get(userId) ?? []
    }))
    return {
      reads,
      mutations,
      upstreamGets: world.attribution.total,
      distinctReads: tuples.size,
      failedReads,
      mutationGets: Array.from(world.attribution.gets).reduce((sum, [read, gets]) => read < 0 ? sum + gets : sum, 0),
      expectedHits,
      mismatchedCommands,
      degradedReads,
      events: eventsRun,
      readsInWindow,
      staleInWindow,
      pendingMutations,
      deliveries,
      violations,
      trace: [...trace, ...world.attribution.outside.map((path) => `GET outside any read: ${path}`)]
    }
  })
