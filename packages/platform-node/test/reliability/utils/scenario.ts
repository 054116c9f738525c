/**
 * Random interleavings of reads and mutations for several users through several cache instances,
 * checked against the oracle. Shared by the memory (TestClock) and Redis (live) variants.
 */
import { HttpClient } from "@effect/platform"
import { type ResponseCache, type TinkClient, type TinkError, TinkUser } from "@tink-effect/core"
import type { Sandbox } from "@tink-effect/sandbox"
import { Users } from "@tink-effect/users"
import { Cause, Chunk, Clock, type Context, Effect, Exit, FastCheck, Fiber, FiberRef, Option, Redacted } from "effect"
import { type Observed, Oracle, type Outcome, type ReadKey } from "./oracle.js"

export type Op = "list" | "get" | "delete" | "refresh" | "deleteUser"

export interface Command {
  readonly op: Op
  /** Indexes are taken modulo the number of users, credentials and instances. */
  readonly user: number
  readonly credential: number
  readonly instance: number
  /** Milliseconds after the previous command started. */
  readonly gap: number
}

export interface UserSpec {
  readonly credentials: number
  /** False: the session has only a token, so its cache scope is a hash of the token. */
  readonly withUserId: boolean
}

export interface Scenario {
  /** Seeds the Random the sandbox draws its latencies from (memory variant). */
  readonly seed: number
  readonly instances: number
  readonly users: ReadonlyArray<UserSpec>
  readonly commands: ReadonlyArray<Command>
}

const commandArbitrary = (maxGap: number): FastCheck.Arbitrary<Command> =>
  FastCheck.record({
    op: FastCheck.oneof(
      { weight: 8, arbitrary: FastCheck.constant("list" as const) },
      { weight: 7, arbitrary: FastCheck.constant("get" as const) },
      { weight: 3, arbitrary: FastCheck.constant("delete" as const) },
      { weight: 3, arbitrary: FastCheck.constant("refresh" as const) },
      { weight: 1, arbitrary: FastCheck.constant("deleteUser" as const) }
    ),
    user: FastCheck.nat(7),
    credential: FastCheck.nat(7),
    instance: FastCheck.nat(5),
    gap: FastCheck.nat(maxGap)
  })

export const scenarioArbitrary = (options: {
  readonly minCommands: number
  readonly maxCommands: number
  readonly maxGap: number
}): FastCheck.Arbitrary<Scenario> =>
  FastCheck.record({
    seed: FastCheck.integer(),
    instances: FastCheck.integer({ min: 1, max: 3 }),
    users: FastCheck.array(
      FastCheck.record({ credentials: FastCheck.integer({ min: 1, max: 4 }), withUserId: FastCheck.boolean() }),
      { minLength: 1, maxLength: 4 }
    ),
    commands: FastCheck.array(commandArbitrary(options.maxGap), {
      minLength: options.minCommands,
      maxLength: options.maxCommands
    })
  })

/** Which read (by number) the current fiber serves; the upstream request of a flight inherits it. */
export const currentRead: FiberRef.FiberRef<number> = FiberRef.unsafeMake(0)

/** Upstream GETs per read number, counted at the transport of every instance. */
export class Attribution {
  readonly gets = new Map<number, number>()
  total = 0

  wrap(client: HttpClient.HttpClient): HttpClient.HttpClient {
    return HttpClient.tapRequest(
      client,
      (request) =>
        request.method !== "GET" ? Effect.void : Effect.map(FiberRef.get(currentRead), (read) => {
          this.total++
          this.gets.set(read, (this.gets.get(read) ?? 0) + 1)
        })
    )
  }
}

export type Instance = Context.Context<TinkClient.TinkClient | ResponseCache.ResponseCache>

export interface World {
  readonly sandbox: Sandbox.Service
  readonly instances: ReadonlyArray<Instance>
  readonly attribution: Attribution
}

export interface Report {
  readonly reads: number
  readonly mutations: number
  readonly upstreamGets: number
  /** Distinct (instance, user, key, generation) tuples the successful reads may have used. */
  readonly distinctReads: number
  readonly failedReads: number
  readonly expectedHits: number
  readonly violations: ReadonlyArray<string>
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

/** Errors a read or mutation may legitimately end with when no fault is injected. */
const allowedErrors: Record<Op, ReadonlyArray<string>> = {
  list: ["TinkAuthenticationError"],
  get: ["TinkAuthenticationError", "TinkNotFoundError"],
  delete: ["TinkAuthenticationError", "TinkNotFoundError"],
  refresh: ["TinkAuthenticationError", "TinkNotFoundError", "TinkApiError"],
  deleteUser: ["TinkAuthenticationError"]
}

/** Seeds the users, then runs every command as its own fiber, started `gap` ms after the one before. */
export const run = (
  scenario: Scenario,
  world: World,
  options: {
    /** Waits for the command fibers: joining them (live), or driving the TestClock (memory). */
    readonly await: (fibers: ReadonlyArray<Fiber.RuntimeFiber<void>>) => Effect.Effect<void>
    /** Unexpected errors are violations when no fault is injected. */
    readonly faults: boolean
    /** Milliseconds between seeding and the first command, so a refresh is never stamped at the seeding instant. */
    readonly startDelay: number
    /**
     * Check single flight read by read: a read that starts while an identical read (same instance,
     * user and key) that began with no mutation in flight is still running, and succeeds, must make
     * no upstream request of its own. Exact for a synchronous store (memory) only: with Redis the
     * store read is asynchronous, so the first flight may end between the store read and the join.
     */
    readonly singleFlight: boolean
  }
): Effect.Effect<Report> =>
  Effect.gen(function*() {
    const { sandbox } = world
    const seeded = yield* Effect.forEach(scenario.users, (spec) =>
      Effect.gen(function*() {
        const { userId } = yield* sandbox.createUser({})
        const credentials: Array<string> = []
        for (let i = 0; i < spec.credentials; i++) credentials.push((yield* sandbox.addCredential(userId)).id)
        const token = Redacted.make(
          yield* sandbox.issueUserToken(userId, [
            "credentials:read",
            "credentials:write",
            "credentials:refresh",
            "user:delete"
          ])
        )
        // The session is built once: the token hash is a real promise, which would perturb the
        // interleaving under the TestClock.
        const session = yield* TinkUser.make({ userId: spec.withUserId ? userId : undefined, accessToken: token })
        return { userId, credentials, session, withUserId: spec.withUserId }
      }))
    const oracle = new Oracle(seeded.map((user) => ({ userId: user.userId, credentialIds: user.credentials })))
    const violations: Array<string> = []
    const tuples = new Set<string>()
    let reads = 0
    let mutations = 0
    let failedReads = 0
    let expectedHits = 0
    let readNumber = 0
    const readLog: Array<{
      readonly label: string
      readonly read: number
      readonly group: string
      readonly user: number
      readonly startSeq: number
      readonly endSeq: number
      readonly clean: boolean
      readonly success: boolean
    }> = []

    const execute = (index: number, command: Command): Effect.Effect<void> =>
      Effect.gen(function*() {
        const user = command.user % seeded.length
        const owner = seeded[user]!
        const credentialId = owner.credentials[command.credential % owner.credentials.length]!
        const instanceIndex = command.instance % world.instances.length
        const instance = world.instances[instanceIndex]!
        // deleteUser only through sessions that carry the user id (see RELIABILITY.md, token-only sessions).
        const op: Op = command.op === "deleteUser" && !owner.withUserId ? "list" : command.op
        const label = `#${index} ${op}${op === "list" || op === "deleteUser" ? "" : ` ${credentialId}`} user ${user}` +
          ` instance ${instanceIndex}`
        const asUser = <A>(effect: Effect.Effect<A, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser>) =>
          effect.pipe(Effect.provideService(TinkUser.TinkUser, owner.session), Effect.provide(instance))

        if (op === "list" || op === "get") {
          reads++
          const read = ++readNumber
          const key: ReadKey = op === "list" ? { _tag: "list" } : { _tag: "get", credentialId }
          const ticket = oracle.readStarted(user, key)
          const exit = yield* Effect.exit(
            asUser(
              op === "list"
                ? Users.listCredentials()
                : Effect.map(Users.getCredential(credentialId), (credential) => [credential])
            ).pipe(Effect.locally(currentRead, read))
          )
          const answer: ReadonlyArray<Observed> | undefined = Exit.isSuccess(exit) ? exit.value : undefined
          const verdict = oracle.readReturned(ticket, answer)
          readLog.push({
            label,
            read,
            group: `${instanceIndex} ${user} ${op} ${op === "get" ? credentialId : ""}`,
            user,
            startSeq: ticket.startSeq,
            endSeq: verdict.endSeq,
            clean: ticket.clean,
            success: answer !== undefined
          })
          if (verdict.crossUser !== undefined) violations.push(`${label}: CROSS-USER ${verdict.crossUser}`)
          if (verdict.stale !== undefined) violations.push(`${label}: STALE ${verdict.stale}`)
          if (verdict.expectHit) {
            expectedHits++
            const upstream = world.attribution.gets.get(read) ?? 0
            if (upstream > 0) {
              violations.push(`${label}: made ${upstream} upstream request(s) where a cached answer was due`)
            }
          }
          if (answer === undefined) {
            failedReads++
            const error = errorOf(exit)
            const tag = typeof error === "object" ? error._tag : String(error)
            if (!options.faults && !allowedErrors[op].includes(tag)) {
              violations.push(`${label}: unexpected ${typeof error === "object" ? error.message : tag}`)
            }
          } else {
            for (let g = verdict.generations[0]; g <= verdict.generations[1]; g++) {
              tuples.add(`${instanceIndex} ${user} ${op} ${op === "get" ? credentialId : ""} ${g}`)
            }
          }
          return
        }

        mutations++
        const ticket = oracle.mutationStarted(
          user,
          op,
          op === "deleteUser" ? undefined : credentialId,
          yield* Clock.currentTimeMillis
        )
        const exit = yield* Effect.exit(
          op === "delete"
            ? asUser(Users.deleteCredential(credentialId))
            : op === "refresh"
            ? asUser(Users.refreshCredential(credentialId))
            : asUser(Users.deleteUser(owner.userId))
        )
        oracle.mutationReturned(ticket, outcomeOf(exit))
        const error = errorOf(exit)
        if (error !== undefined && !options.faults) {
          const tag = typeof error === "object" ? error._tag : String(error)
          const allowed = allowedErrors[op].includes(tag) &&
            (tag !== "TinkApiError" || (typeof error === "object" && error.status === 409))
          if (!allowed) violations.push(`${label}: unexpected ${typeof error === "object" ? error.message : tag}`)
        }
      })

    let start = options.startDelay
    const fibers: Array<Fiber.RuntimeFiber<void>> = []
    for (const [index, command] of scenario.commands.entries()) {
      start += command.gap
      const at = start
      fibers.push(yield* Effect.fork(Effect.zipRight(Effect.sleep(at), execute(index, command))))
    }
    yield* options.await(fibers)
    if (options.singleFlight) {
      for (const later of readLog) {
        const upstream = world.attribution.gets.get(later.read) ?? 0
        if (upstream === 0 || !later.success) continue
        const first = readLog.find((earlier) =>
          earlier.group === later.group && earlier.clean && earlier.success &&
          earlier.startSeq < later.startSeq && later.startSeq < earlier.endSeq &&
          !oracle.mutationStartedBetween(later.user, earlier.startSeq, later.endSeq)
        )
        if (first !== undefined) {
          violations.push(
            `${later.label}: made ${upstream} upstream request(s) while an identical read (${first.label}) was in flight`
          )
        }
      }
    }
    return {
      reads,
      mutations,
      upstreamGets: world.attribution.total,
      distinctReads: tuples.size,
      failedReads,
      expectedHits,
      violations
    }
  })
