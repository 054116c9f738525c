/**
 * The soak: N instances over real sockets sharing the real Redis, many users, a stream of random
 * operations from concurrent workers, and faults switched on at random (Tink answers, the network
 * in front of Tink, the link to Redis). Every read is checked by the oracle (stale and cross-user
 * reads), every user creation is counted against Tink's (no duplicates), and the process memory is
 * sampled. Used by `npm run test:soak` (test/soak/soak.ts) and, small, by `npm test`.
 */
import { HttpClient } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { TinkClient, TinkConfig, type TinkError, TinkUser } from "@tink-effect/core"
import { ResponseCache, SandboxServer } from "@tink-effect/platform-node"
import { Sandbox } from "@tink-effect/sandbox"
import { Users } from "@tink-effect/users"
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberRef,
  Layer,
  Option,
  Redacted,
  Schedule
} from "effect"
import * as FaultProxy from "../reliability/utils/faultProxy.js"
import { Oracle, type Outcome } from "../reliability/utils/oracle.js"
import { dropNamespace } from "../reliability/utils/worlds.js"
import * as Redis from "../utils/redis.js"

export interface Options {
  readonly instances: number
  readonly users: number
  readonly operations: number
  /** Workers issuing operations at the same time. */
  readonly concurrency: number
  /** Switch faults on at random. */
  readonly faults: boolean
  /** Also fault the link to Redis (pause, slow, cut). */
  readonly redisFaults: boolean
  /** A seed for the operation mix (faults and timing are live). */
  readonly seed: number
  readonly onProgress?: ((done: number) => void) | undefined
}

export interface Report {
  readonly operations: number
  readonly byOperation: Record<string, number>
  readonly outcomes: Record<string, number>
  readonly seconds: number
  readonly faultsInjected: number
  readonly faultsByKind: Record<string, number>
  readonly faultEpisodes: Record<string, number>
  readonly retries: number
  readonly upstreamRequests: number
  readonly staleReads: number
  /**
   * Stale reads whose missed mutation was made through another instance while the link to Redis
   * was faulted or within a second after: the window in which an invalidation that timed out is
   * only pending (see RELIABILITY.md, finding 1). The rest must be 0 whatever the faults.
   */
  readonly staleReadsInRedisFaultWindow: number
  readonly crossUserReads: number
  readonly defects: number
  readonly reads: number
  readonly checkedReads: number
  readonly cache: {
    readonly hits: number
    readonly misses: number
    readonly coalesced: number
    readonly storeErrors: number
  }
  readonly usersCreatedByApi: number
  readonly createUserCalls: number
  readonly createUserSucceeded: number
  readonly createUserAmbiguous: number
  readonly duplicateUsers: number
  readonly peakRssMb: number
  readonly peakHeapMb: number
  readonly examples: ReadonlyArray<string>
}

/** A small deterministic generator for the operation mix (mulberry32). */
const prng = (seed: number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6D2B79F5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const currentOp = FiberRef.unsafeMake(0)

type Instance = Context.Context<TinkClient.TinkClient | ResponseCache.ResponseCache>

interface Slot {
  user: number
  userId: string
  session: TinkUser.Session
  credentials: Array<string>
  withUserId: boolean
}

const definite = (error: TinkError.TinkError): boolean =>
  error._tag === "TinkNotFoundError" || error._tag === "TinkAuthenticationError" ||
  error._tag === "TinkValidationError" || error._tag === "TinkRateLimitError" ||
  (error._tag === "TinkApiError" && error.status !== undefined && error.status >= 400 && error.status < 500 &&
    error.status !== 408) ||
  (error._tag === "TinkNetworkError" && !error.mayHaveReachedTink)

const sandboxFaults = (random: () => number): ReadonlyArray<Sandbox.FaultRule> => {
  const p = 0.15 + random() * 0.35
  const pick = <A>(items: ReadonlyArray<A>) => items[Math.floor(random() * items.length)]!
  const fault: Sandbox.Fault = pick<Sandbox.Fault>([
    { _tag: "Status", status: 429, retryAfter: "0" },
    { _tag: "Status", status: 429 },
    { _tag: "Status", status: 500 },
    { _tag: "Status", status: 502 },
    { _tag: "Status", status: 503 },
    { _tag: "Status", status: 504 },
    { _tag: "Html", status: 502 },
    { _tag: "MalformedJson" },
    { _tag: "WrongShape" },
    { _tag: "Truncated" },
    { _tag: "Drop" },
    { _tag: "Drop", afterProcessing: true },
    { _tag: "Latency", millis: 50, maxMillis: 400 },
    { _tag: "LargeBody", bytes: 1024 * 1024 }
  ])
  // A 2xx body fault answers instead of the endpoint: on a mutation it would be a "success" Tink
  // never processed, which no real Tink does. Those faults hit reads only.
  const bodyFault = fault._tag === "MalformedJson" || fault._tag === "WrongShape" || fault._tag === "LargeBody"
  return [{ probability: p, fault, ...(bodyFault ? { method: "GET" } : {}) }]
}

export const run = (options: Options): Effect.Effect<Report> =>
  Effect.gen(function*() {
    const random = prng(options.seed)
    const admin = yield* Redis.admin
    const context = yield* Layer.build(SandboxServer.layer({
      sandbox: { refreshStepMillis: 200, maxRecordedRequests: 0 }
    }))
    const server = Context.get(context, SandboxServer.SandboxServer)
    const sandbox = Context.get(context, Sandbox.Sandbox)
    const tinkProxy = yield* FaultProxy.make({ host: "127.0.0.1", port: server.port })
    const redisProxy = yield* FaultProxy.make(Redis.redisTarget)
    const namespace = Redis.namespace()
    yield* Effect.addFinalizer(() => dropNamespace(admin, namespace))

    // Attempts per operation and request, to count retries.
    const attempts = new Map<number, Map<string, number>>()
    let upstreamRequests = 0
    const counted = (client: HttpClient.HttpClient) =>
      HttpClient.tapRequest(client, (request) =>
        Effect.map(FiberRef.get(currentOp), (op) => {
          upstreamRequests++
          const key = `${request.method} ${new URL(request.url).pathname}`
          const perOp = attempts.get(op) ?? new Map<string, number>()
          perOp.set(key, (perOp.get(key) ?? 0) + 1)
          attempts.set(op, perOp)
        }))

    const instances: Array<Instance> = []
    for (let i = 0; i < options.instances; i++) {
      instances.push(
        yield* Layer.build(
          TinkClient.layer.pipe(
            Layer.provideMerge(
              Layer.mergeAll(
                TinkConfig.layer({
                  clientId: "sandbox-client",
                  clientSecret: Redacted.make("sandbox-secret"),
                  baseUrl: `http://127.0.0.1:${tinkProxy.port}`,
                  maxRetries: 2,
                  retryBaseDelay: "20 millis",
                  maxRetryDelay: "1 second",
                  requestTimeout: "2 seconds"
                }),
                ResponseCache.layerRedis({
                  url: `redis://127.0.0.1:${redisProxy.port}`,
                  namespace,
                  timeout: "50 millis",
                  generationTtl: "5 minutes",
                  retrySchedule: Schedule.spaced("20 millis")
                }),
                Layer.effect(HttpClient.HttpClient, Effect.map(HttpClient.HttpClient, counted)).pipe(
                  Layer.provide(NodeHttpClient.layerUndici)
                )
              )
            )
          )
        )
      )
    }

    const seedUser = (withUserId: boolean) =>
      Effect.gen(function*() {
        const { userId } = yield* sandbox.createUser({})
        const credentials: Array<string> = []
        for (let i = 0; i < 3; i++) credentials.push((yield* sandbox.addCredential(userId)).id)
        const token = Redacted.make(
          yield* sandbox.issueUserToken(userId, [
            "credentials:read",
            "credentials:write",
            "credentials:refresh",
            "user:delete"
          ])
        )
        const session = yield* TinkUser.make({ userId: withUserId ? userId : undefined, accessToken: token })
        return { userId, credentials, session }
      })

    const oracle = new Oracle([])
    const slots: Array<Slot> = []
    const fillSlot = (index: number) =>
      Effect.gen(function*() {
        const withUserId = index % 5 !== 0
        const seeded = yield* seedUser(withUserId)
        const user = oracle.addUser(seeded.userId, seeded.credentials)
        slots[index] = {
          user,
          userId: seeded.userId,
          session: seeded.session,
          credentials: seeded.credentials,
          withUserId
        }
      })
    for (let i = 0; i < options.users; i++) yield* fillSlot(i)

    const byOperation: Record<string, number> = {}
    const outcomes: Record<string, number> = {}
    const faultEpisodes: Record<string, number> = {}
    const examples: Array<string> = []
    let staleReads = 0
    let crossUserReads = 0
    let defects = 0
    let reads = 0
    let checkedReads = 0
    let createUserCalls = 0
    let createUserSucceeded = 0
    /** Calls that failed in a way that may have reached Tink: each may have created one user. */
    let createUserAmbiguous = 0
    let done = 0
    let opNumber = 0
    /** The last successful mutation of each user: through which instance, and whether Redis was faulted. */
    const lastMutation = new Map<number, { readonly instance: number; readonly redisFaulted: boolean }>()
    let redisFaultedUntil = 0
    const redisFaulted = () => Date.now() <= redisFaultedUntil
    let staleInWindow = 0
    const bump = (record: Record<string, number>, key: string) => {
      record[key] = (record[key] ?? 0) + 1
    }
    const note = (text: string) => {
      if (examples.length < 20) examples.push(text)
    }
    const tagOf = (exit: Exit.Exit<unknown, TinkError.TinkError>): string => {
      if (Exit.isSuccess(exit)) return "ok"
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure)) return failure.value._tag
      defects++
      note(`defect: ${Cause.pretty(exit.cause).slice(0, 300)}`)
      return "defect"
    }

    const operation = Effect.gen(function*() {
      const op = ++opNumber
      const slotIndex = Math.floor(random() * slots.length)
      const slot = slots[slotIndex]!
      const instanceIndex = Math.floor(random() * instances.length)
      const instance = instances[instanceIndex]!
      const roll = random()
      const credentialId = slot.credentials[Math.floor(random() * slot.credentials.length)]!
      const asUser = <A>(effect: Effect.Effect<A, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser>) =>
        effect.pipe(Effect.provideService(TinkUser.TinkUser, slot.session), Effect.provide(instance))
      const kind = roll < 0.45
        ? "list"
        : roll < 0.75
        ? "get"
        : roll < 0.87
        ? "refresh"
        : roll < 0.95
        ? "delete"
        : roll < 0.99
        ? "createUser"
        : slot.withUserId
        ? "deleteUser"
        : "list"
      bump(byOperation, kind)
      const withOp = <A, E>(effect: Effect.Effect<A, E>) => Effect.locally(effect, currentOp, op)

      if (kind === "list" || kind === "get") {
        reads++
        const ticket = oracle.readStarted(
          slot.user,
          kind === "list" ? { _tag: "list" } : { _tag: "get", credentialId }
        )
        const exit = yield* Effect.exit(withOp(asUser(
          kind === "list"
            ? Users.listCredentials()
            : Effect.map(Users.getCredential(credentialId), (credential) => [credential])
        )))
        bump(outcomes, `${kind} ${tagOf(exit)}`)
        const verdict = oracle.readReturned(ticket, Exit.isSuccess(exit) ? exit.value : undefined)
        if (Exit.isSuccess(exit)) checkedReads++
        if (verdict.stale !== undefined) {
          staleReads++
          const missed = lastMutation.get(slot.user)
          const inWindow = missed !== undefined && missed.instance !== instanceIndex &&
            (missed.redisFaulted || redisFaulted())
          if (inWindow) staleInWindow++
          note(
            `STALE #${op} through instance ${instanceIndex}, after a mutation through instance ${
              missed?.instance ?? "?"
            }${inWindow ? " in a Redis fault window" : ""}: ${verdict.stale}`
          )
        }
        if (verdict.crossUser !== undefined) {
          crossUserReads++
          note(`CROSS-USER #${op}: ${verdict.crossUser}`)
        }
        return
      }
      if (kind === "createUser") {
        createUserCalls++
        const exit = yield* Effect.exit(withOp(Effect.provide(Users.createUser({ market: "SE" }), instance)))
        if (Exit.isSuccess(exit)) createUserSucceeded++
        else {
          const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
          if (failure === undefined || !definite(failure)) createUserAmbiguous++
        }
        bump(outcomes, `createUser ${tagOf(exit)}`)
        return
      }
      const ticket = oracle.mutationStarted(
        slot.user,
        kind,
        kind === "deleteUser" ? undefined : credentialId,
        yield* Clock.currentTimeMillis
      )
      const exit = yield* Effect.exit(withOp(asUser(
        kind === "refresh"
          ? Users.refreshCredential(credentialId)
          : kind === "delete"
          ? Users.deleteCredential(credentialId)
          : Users.deleteUser(slot.userId)
      )))
      const failure = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
      const outcome: Outcome = Exit.isSuccess(exit)
        ? "success"
        : failure !== undefined && definite(failure)
        ? "rejected"
        : "ambiguous"
      oracle.mutationReturned(ticket, outcome)
      if (outcome === "success") {
        lastMutation.set(slot.user, { instance: instanceIndex, redisFaulted: redisFaulted() })
      }
      bump(outcomes, `${kind} ${tagOf(exit)}`)
      // Whatever the outcome, Tink may have done it (an answer lost after processing): look at
      // Tink's state to keep the workload meaningful, behind the client's back.
      if (kind === "delete" && !(yield* sandbox.credentials(slot.userId)).some((c) => c.id === credentialId)) {
        // The user may have been deleted meanwhile: seeding for a missing user dies, by design.
        const fresh = yield* sandbox.addCredential(slot.userId).pipe(
          Effect.map(Option.some),
          Effect.catchAllDefect(() => Effect.succeed(Option.none()))
        )
        if (Option.isSome(fresh)) {
          oracle.addCredential(slot.user, fresh.value.id)
          slot.credentials = [...slot.credentials.filter((id) => id !== credentialId), fresh.value.id]
        }
      }
      if (kind === "deleteUser" && slots[slotIndex] === slot && !(yield* sandbox.userExists(slot.userId))) {
        yield* fillSlot(slotIndex)
      }
    })

    const worker = Effect.gen(function*() {
      while (done < options.operations) {
        const number = ++done
        yield* operation
        if (number % 1000 === 0) options.onProgress?.(number)
      }
    })

    // Faults: every 100-400 ms, one random episode of 50-400 ms, then all clear.
    const episodes = Effect.gen(function*() {
      for (;;) {
        yield* Effect.sleep(Duration.millis(100 + random() * 300))
        const roll = random()
        const length = Duration.millis(50 + random() * 350)
        if (roll < 0.5) {
          const rules = sandboxFaults(random)
          bump(faultEpisodes, `Tink: ${rules[0]!.fault._tag}`)
          yield* sandbox.setFaults(rules)
          yield* Effect.sleep(length)
          yield* sandbox.clearFaults
        } else if (roll < 0.75 || !options.redisFaults) {
          const mode = (["resetBeforeRequest", "resetAfterRequest", "refuse"] as const)[Math.floor(random() * 3)]!
          bump(faultEpisodes, `network to Tink: ${mode}`)
          yield* tinkProxy.set({ _tag: mode })
          yield* Effect.sleep(Duration.millis(Duration.toMillis(length) / 4))
          yield* tinkProxy.set({ _tag: "open" })
        } else {
          const mode: FaultProxy.Mode = random() < 0.4
            ? { _tag: "pause" }
            : random() < 0.6
            ? { _tag: "latency", millis: 150 }
            : { _tag: "cut" }
          bump(faultEpisodes, `Redis: ${mode._tag}`)
          redisFaultedUntil = Number.POSITIVE_INFINITY
          yield* redisProxy.set(mode)
          yield* Effect.sleep(length)
          yield* redisProxy.set({ _tag: "open" })
          redisFaultedUntil = Date.now() + 1000
        }
      }
    })

    let peakRss = 0
    let peakHeap = 0
    const sample = Effect.sync(() => {
      const usage = process.memoryUsage()
      peakRss = Math.max(peakRss, usage.rss)
      peakHeap = Math.max(peakHeap, usage.heapUsed)
    })
    const sampler = yield* Effect.fork(Effect.repeat(sample, Schedule.spaced("100 millis")))
    const faulting = options.faults ? yield* Effect.fork(episodes) : undefined
    const started = yield* Clock.currentTimeMillis
    yield* Effect.all(Array.from({ length: options.concurrency }, () => worker), {
      concurrency: "unbounded",
      discard: true
    })
    const seconds = ((yield* Clock.currentTimeMillis) - started) / 1000
    if (faulting !== undefined) yield* Fiber.interrupt(faulting)
    yield* sandbox.clearFaults
    yield* tinkProxy.set({ _tag: "open" })
    yield* redisProxy.set({ _tag: "open" })
    // Let pending invalidations reach Redis before the instances close.
    yield* Effect.sleep("300 millis")
    yield* sample
    yield* Fiber.interrupt(sampler)

    let retries = 0
    for (const perOp of attempts.values()) {
      for (const count of perOp.values()) retries += Math.max(0, count - 1)
    }
    const cache = { hits: 0, misses: 0, coalesced: 0, storeErrors: 0 }
    for (const instance of instances) {
      const stats = yield* Effect.provide(ResponseCache.stats, instance)
      cache.hits += stats.hits
      cache.misses += stats.misses
      cache.coalesced += stats.coalesced
      cache.storeErrors += stats.storeErrors
    }
    const faultsByKind = yield* sandbox.faultsInjected
    const proxyResets = (yield* tinkProxy.resets) + (yield* redisProxy.resets)
    const usersCreatedByApi = yield* sandbox.usersCreated
    return {
      operations: done,
      byOperation,
      outcomes,
      seconds,
      faultsInjected: Object.values(faultsByKind).reduce((a, b) => a + b, 0) + proxyResets,
      faultsByKind: { ...faultsByKind, "connection resets (proxies)": proxyResets },
      faultEpisodes,
      retries,
      upstreamRequests,
      staleReads,
      staleReadsInRedisFaultWindow: staleInWindow,
      crossUserReads,
      defects,
      reads,
      checkedReads,
      cache,
      usersCreatedByApi,
      createUserCalls,
      createUserSucceeded,
      createUserAmbiguous,
      // Each successful call created one user, each ambiguous failure at most one: any more is a duplicate.
      duplicateUsers: Math.max(0, usersCreatedByApi - createUserSucceeded - createUserAmbiguous),
      peakRssMb: Math.round(peakRss / 1024 / 1024),
      peakHeapMb: Math.round(peakHeap / 1024 / 1024),
      examples
    }
  }).pipe(Effect.scoped)
