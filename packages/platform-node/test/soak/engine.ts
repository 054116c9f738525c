/**
 * The soak: N instances over real sockets sharing the real Redis, many users, a stream of random
 * operations from concurrent workers, and faults switched on at random (Tink answers, the network
 * in front of Tink, the link to Redis). Every read is checked by the oracle (stale and cross-user
 * reads), every user creation is counted against Tink's (no duplicates), and the process memory is
 * sampled. Used by `npm run test:soak` (test/soak/soak.ts) and, small, by `npm test`.
 */
import { HttpClient } from "@effect/platform"
import { ResponseCache, type TinkClient, type TinkError, TinkUser } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
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
import * as Instance from "../utils/instance.js"
import * as Redis from "../utils/redis.js"

/** The sandbox's ids as the operations take them (branded where the API brands them). */
const asCredentialId = (id: string) => id as Parameters<typeof Users.getCredential>[0]
const asUserId = (id: string) => id as Parameters<typeof Users.deleteUser>[0]

export interface Options {
  readonly instances: number
  readonly users: number
  readonly operations: number
  /** Workers issuing operations at the same time. */
  readonly concurrency: number
  /** Switch faults on at random. */
  readonly faults: boolean
  /**
   * Also fault one instance's link to Redis at a time (pause, slow past the bound, cut): that
   * instance's reads then have no generation while the other instance keeps mutating.
   */
  readonly redisFaults: boolean
  /**
   * Share of reads and mutations made through a session naming one user with another user's
   * token (default 0.04). Such a mutation must change nobody (the token's owner is not the user
   * named), and `deleteUser` through it must delete the user named only.
   */
  readonly mismatched?: number | undefined
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
  /** Reads through an instance whose link to Redis was faulted meanwhile (reads without a generation). */
  readonly degradedReads: number
  /**
   * Mutations made while their instance's link to Redis was faulted (or within 1.5 s after, while
   * it reconnects): their invalidation may be pending there (C9), so their marks bind reads
   * through that instance only.
   */
  readonly pendingMutations: number
  /** Operations through a session naming one user with another user's token. */
  readonly mismatchedOperations: number
  /** Mismatched-session mutations that changed a user other than the one named: must be 0. */
  readonly wrongUserChanged: number
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
    // One link per instance, so one instance can lose Redis while the other keeps mutating.
    const redisProxies: Array<FaultProxy.FaultProxy> = []
    for (let i = 0; i < options.instances; i++) redisProxies.push(yield* FaultProxy.make(Redis.redisTarget))
    const namespace = Redis.namespace()
    yield* Effect.addFinalizer(() => Redis.dropNamespace(admin, namespace))

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

    const instances: Array<Instance.Instance> = []
    for (let i = 0; i < options.instances; i++) {
      instances.push(
        yield* Instance.build({
          baseUrl: `http://127.0.0.1:${tinkProxy.port}`,
          client: {
            maxRetries: 2,
            retryBaseDelay: "20 millis",
            maxRetryDelay: "1 second",
            requestTimeout: "2 seconds"
          },
          redis: {
            url: `redis://127.0.0.1:${redisProxies[i]!.port}`,
            namespace,
            timeout: "50 millis",
            generationTtl: "5 minutes",
            retrySchedule: Schedule.spaced("20 millis")
          },
          transport: counted
        })
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
    /** Per instance: until when its link to Redis counts as faulted (Infinity during an episode), and episodes so far. */
    const faultedUntil = Array.from({ length: options.instances }, () => 0)
    const episodesOf = Array.from({ length: options.instances }, () => 0)
    const faulted = (instance: number) => Date.now() <= faultedUntil[instance]!
    let degradedReads = 0
    let pendingMutations = 0
    let mismatchedOperations = 0
    let wrongUserChanged = 0
    /** Users some deleteUser named: only they may disappear. */
    const deleteUserAttempted = new Set<string>()
    /** Per oracle user: the last mutation that returned successfully, to explain a stale read. */
    const lastMutation = new Map<number, string>()
    const mismatchedShare = options.mismatched ?? 0.04
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
      // A session naming this slot's user with another slot's token (finding 4 of issue 10).
      const otherIndex = random() < mismatchedShare && slots.length > 1 && slot.withUserId
        ? (slotIndex + 1 + Math.floor(random() * (slots.length - 1))) % slots.length
        : undefined
      const other = otherIndex === undefined ? undefined : slots[otherIndex]!
      const session = other === undefined
        ? slot.session
        : yield* TinkUser.make({ userId: slot.userId, accessToken: other.session.accessToken })
      // Through a mismatched session the credential is the token owner's: the one it could reach.
      const target = other ?? slot
      const targetCredential = other === undefined
        ? credentialId
        : other.credentials[Math.floor(random() * other.credentials.length)]!
      const asUser = <A>(effect: Effect.Effect<A, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser>) =>
        effect.pipe(Effect.provideService(TinkUser.TinkUser, session), Effect.provide(instance))
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

      if (kind !== "createUser" && other !== undefined) mismatchedOperations++
      if (kind === "list" || kind === "get") {
        reads++
        const episodes = episodesOf[instanceIndex]!
        const degraded = faulted(instanceIndex)
        // Tink answers for the token: a read returns (or must not return) the token owner's data.
        const ticket = oracle.readStarted(
          target.user,
          kind === "list" ? { _tag: "list" } : { _tag: "get", credentialId: targetCredential },
          { session: `${slot.user} ${target.user}`, touches: [slot.user], instance: instanceIndex }
        )
        const exit = yield* Effect.exit(withOp(asUser(
          kind === "list"
            ? Users.listCredentials()
            : Effect.map(Users.getCredential(asCredentialId(targetCredential)), (credential) => [credential])
        )))
        if (degraded || faulted(instanceIndex) || episodesOf[instanceIndex] !== episodes) degradedReads++
        bump(outcomes, `${kind}${other === undefined ? "" : " (mismatched)"} ${tagOf(exit)}`)
        const verdict = oracle.readReturned(ticket, Exit.isSuccess(exit) ? exit.value : undefined)
        if (Exit.isSuccess(exit)) checkedReads++
        if (verdict.stale !== undefined) {
          staleReads++
          note(
            `at ${Date.now()} STALE #${op} ${kind}${
              other === undefined ? "" : " (mismatched session)"
            } through instance ${instanceIndex}${degraded ? " (its Redis link faulted)" : ""}: ${verdict.stale}; ` +
              `last mutation of that user: ${lastMutation.get(target.user) ?? "?"}`
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
      const episodes = episodesOf[instanceIndex]!
      const degraded = faulted(instanceIndex)
      const startedAt = Date.now()
      // Whose data Tink would change: the credential's owner, or for deleteUser the user named.
      const changed = kind === "deleteUser" ? slot : target
      const ticket = oracle.mutationStarted(
        changed.user,
        kind,
        kind === "deleteUser" ? undefined : targetCredential,
        yield* Clock.currentTimeMillis,
        other === undefined ? [] : [slot.user, other.user]
      )
      const exit = yield* Effect.exit(withOp(asUser(
        kind === "refresh"
          ? Users.refreshCredential(asCredentialId(targetCredential))
          : kind === "delete"
          ? Users.deleteCredential(asCredentialId(targetCredential))
          : Users.deleteUser(asUserId(slot.userId))
      )))
      // Pending (C9) also without a fault: a mutation slower than the 1 s invalidation bound may
      // have had its invalidation time out on a loaded machine.
      const pending = degraded || faulted(instanceIndex) || episodesOf[instanceIndex] !== episodes ||
        Date.now() - startedAt >= 900
      if (pending) pendingMutations++
      const failure = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
      const outcome: Outcome = Exit.isSuccess(exit)
        ? "success"
        : failure !== undefined && definite(failure)
        ? "rejected"
        : "ambiguous"
      oracle.mutationReturned(ticket, outcome, pending ? instanceIndex : undefined)
      if (outcome === "success") {
        lastMutation.set(
          changed.user,
          `#${op} ${kind} through instance ${instanceIndex}, ${Date.now() - startedAt} ms, ${
            pending ? "possibly pending" : "delivered"
          }, returned at ${Date.now()}`
        )
      }
      bump(outcomes, `${kind}${other === undefined ? "" : " (mismatched)"} ${tagOf(exit)}`)
      if (other !== undefined && kind !== "deleteUser" && outcome === "success") {
        wrongUserChanged++
        note(
          `WRONG USER #${op}: ${kind} of user ${other.userId}'s credential through a session naming ${slot.userId} succeeded`
        )
      }
      if (
        other !== undefined && kind === "deleteUser" && slots[otherIndex!] === other &&
        !(yield* sandbox.userExists(other.userId)) && !deleteUserAttempted.has(other.userId)
      ) {
        wrongUserChanged++
        note(
          `WRONG USER #${op}: deleteUser(${slot.userId}) through a session holding ${other.userId}'s token deleted ${other.userId}`
        )
      }
      if (kind === "deleteUser") deleteUserAttempted.add(slot.userId)
      // Whatever the outcome, Tink may have done it (an answer lost after processing): look at
      // Tink's state to keep the workload meaningful, behind the client's back.
      if (
        kind === "delete" && !(yield* sandbox.credentials(target.userId)).some((c) => c.id === targetCredential)
      ) {
        // The user may have been deleted meanwhile: seeding for a missing user dies, by design.
        const fresh = yield* sandbox.addCredential(target.userId).pipe(
          Effect.map(Option.some),
          Effect.catchAllDefect(() => Effect.succeed(Option.none()))
        )
        if (Option.isSome(fresh)) {
          oracle.addCredential(target.user, fresh.value.id)
          target.credentials = [...target.credentials.filter((id) => id !== targetCredential), fresh.value.id]
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
          const target = Math.floor(random() * instances.length)
          const mode: FaultProxy.Mode = random() < 0.4
            ? { _tag: "pause" }
            : random() < 0.6
            ? { _tag: "latency", millis: 150 }
            : { _tag: "cut" }
          bump(faultEpisodes, `Redis link of one instance: ${mode._tag}`)
          faultedUntil[target] = Number.POSITIVE_INFINITY
          episodesOf[target]!++
          yield* redisProxies[target]!.set(mode)
          yield* Effect.sleep(length)
          yield* redisProxies[target]!.set({ _tag: "open" })
          // node-redis reconnects after a cut with a backoff of up to 1 s (more on a loaded machine).
          faultedUntil[target] = Date.now() + 3000
          episodesOf[target]!++
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
    for (const proxy of redisProxies) yield* proxy.set({ _tag: "open" })
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
    let proxyResets = yield* tinkProxy.resets
    for (const proxy of redisProxies) proxyResets += yield* proxy.resets
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
      degradedReads,
      pendingMutations,
      mismatchedOperations,
      wrongUserChanged,
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
