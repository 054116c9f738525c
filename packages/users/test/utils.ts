import { HttpClient } from "@effect/platform"
import { ResponseCache, TinkClient, type TinkError, type TinkUser } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import { Ids, Users } from "@tink-effect/users"
import { type Duration, Effect, Fiber, Layer, Redacted, TestClock } from "effect"

export const clientSecret = "sandbox-secret"

/** Everything an operation needs, over a fresh sandbox reached in memory. */
export const testLayer = (
  options: {
    readonly capacity?: number
    readonly cache?: Layer.Layer<ResponseCache.ResponseCache>
    /** Wraps the in-memory transport, e.g. to hold a response after Tink produced it. */
    readonly transport?: (client: HttpClient.HttpClient) => HttpClient.HttpClient
    readonly clientSecret?: string
  } = {}
) =>
  TinkClient.layer({
    clientId: "sandbox-client",
    clientSecret: Redacted.make(options.clientSecret ?? clientSecret),
    baseUrl: "http://sandbox.test",
    maxRetries: 2,
    retryBaseDelay: "100 millis"
  }).pipe(
    Layer.provideMerge(Layer.mergeAll(
      options.transport === undefined ? Sandbox.layerTest() : Layer.effect(
        HttpClient.HttpClient,
        Effect.map(HttpClient.HttpClient, options.transport)
      ).pipe(Layer.provideMerge(Sandbox.layerTest())),
      options.cache ?? ResponseCache.layerMemory({ capacity: options.capacity ?? 1000 })
    )),
    Layer.orDie
  )

/** A seeded user with one credential and a user token holding every credentials scope. */
export const seedUser = (credentials = 1) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const { userId } = yield* sandbox.createUser({})
    const seeded = []
    for (let i = 0; i < credentials; i++) seeded.push(yield* sandbox.addCredential(userId))
    const token = yield* sandbox.issueUserToken(userId, [
      "credentials:read",
      "credentials:write",
      "credentials:refresh",
      "user:delete"
    ])
    return {
      userId: Ids.UserId.make(userId),
      token: Redacted.make(token),
      credentials: seeded.map((credential) => ({ ...credential, id: Ids.CredentialId.make(credential.id) }))
    }
  })

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
