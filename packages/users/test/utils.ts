import type { HttpClient } from "@effect/platform"
import type { ResponseCache, TinkError, TinkUser } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxClient from "@tink-effect/sandbox/SandboxClient"
import { type Ids, Users } from "@tink-effect/users"
import { type Duration, Effect, Fiber, type Layer, Redacted, TestClock } from "effect"

export const clientSecret = "sandbox-secret"

/**
 * Everything an operation needs, over a fresh sandbox reached in memory: the one-line test layer,
 * with the retry settings these tests were written for (2 retries, 100 ms backoff, Retry-After
 * honoured), which `withClock` moves through.
 */
export const testLayer = (
  options: {
    readonly capacity?: number
    readonly cache?: Layer.Layer<ResponseCache.ResponseCache>
    /** Wraps the in-memory transport, e.g. to hold a response after Tink produced it. */
    readonly transport?: (client: HttpClient.HttpClient) => HttpClient.HttpClient
    readonly clientSecret?: string
  } = {}
) =>
  SandboxClient.layer({
    client: {
      clientSecret: Redacted.make(options.clientSecret ?? clientSecret),
      maxRetries: 2,
      retryBaseDelay: "100 millis",
      maxRetryDelay: "30 seconds"
    },
    capacity: options.capacity,
    cache: options.cache,
    transport: options.transport
  })

/** A seeded user with credentials and a user token holding every credentials scope. */
export const seedUser = (credentials = 1) =>
  Effect.map(SandboxClient.seedUser({ credentials }), (user) => ({ ...user, token: user.accessToken }))

/** Runs an effect as the seeded user. */
export const as = (user: { readonly userId: Ids.UserId; readonly token: Redacted.Redacted<string> }) =>
<A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | TinkError.TinkValidationError, Exclude<R, TinkUser.TinkUser>> =>
  Users.asUser(effect, { userId: user.userId, accessToken: user.token })

/** Runs an effect that sleeps on the Clock (retries, latency) by moving the TestClock until it ends. */
export const withClock = <A, E, R>(effect: Effect.Effect<A, E, R>, step: Duration.DurationInput = "1 second") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 600; i++) {
      yield* Effect.yieldNow()
      if ((yield* Fiber.poll(fiber))._tag === "Some") break
      yield* TestClock.adjust(step)
    }
    return yield* Fiber.join(fiber)
  })

export const count = (method: string, path: string) =>
  Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.requestCount(method, path))
