/**
 * Testing your own code with the sandbox: `Sandbox.layerTest()` gives the fake Tink and an
 * `HttpClient` routed into it in memory, so the real client (auth, retries, decoding, cache) runs
 * against it with no sockets and no network. The TestClock drives time, cache TTLs included.
 *
 *   npx vitest run --root examples
 */
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache, TinkClient } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import { Ids, Users } from "@tink-effect/users"
import { Effect, Layer, Redacted, TestClock } from "effect"

// ---------------------------------------------------------------------------------------------
// Your code: a dashboard's summary of a user's bank connections.
// ---------------------------------------------------------------------------------------------

const connectionSummary = (session: Users.SessionOptions) =>
  Users.listCredentials().pipe(
    Effect.map((credentials) => ({
      banks: credentials.length,
      needAttention: credentials.filter((credential) => credential.status !== "UPDATED").length
    })),
    Users.asUser(session)
  )

// ---------------------------------------------------------------------------------------------
// Its tests
// ---------------------------------------------------------------------------------------------

/** The real Tink client over a fresh in-memory sandbox, with a memory cache. */
const TinkTest = TinkClient.layer({
  // The sandbox's default app; the base URL is never dialled.
  clientId: "sandbox-client",
  clientSecret: Redacted.make("sandbox-secret"),
  // Failures surface at once instead of after retries (which would wait on the TestClock).
  maxRetries: 0
}).pipe(
  Layer.provideMerge(Layer.mergeAll(Sandbox.layerTest(), ResponseCache.layerMemory({ capacity: 100 })))
)

/** A user with bank credentials and a token, seeded straight into the sandbox (no requests). */
const seedUser = (statuses: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const { userId } = yield* sandbox.createUser({})
    for (const status of statuses) yield* sandbox.addCredential(userId, { status })
    const token = yield* sandbox.issueUserToken(userId, ["credentials:read"])
    return { userId: Ids.UserId.make(userId), accessToken: Redacted.make(token) }
  })

describe("connectionSummary", () => {
  // Each test provides its own layer, so each gets a fresh sandbox and cache.
  it.effect("counts the banks and those that need the user's attention", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(["UPDATED", "AUTHENTICATION_ERROR", "UPDATED"])
      assert.deepStrictEqual(yield* connectionSummary(user), { banks: 3, needAttention: 1 })
    }).pipe(Effect.provide(TinkTest)))

  it.effect("is served from the cache for 30 seconds, then fetched again", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(["UPDATED"])
      const fetched = sandbox.requestCount("GET", "/api/v1/credentials/list")
      yield* connectionSummary(user)
      yield* connectionSummary(user)
      assert.strictEqual(yield* fetched, 1)
      yield* TestClock.adjust("30 seconds")
      yield* connectionSummary(user)
      assert.strictEqual(yield* fetched, 2)
    }).pipe(Effect.provide(TinkTest)))

  it.effect("fails with a typed error when Tink is down", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(["UPDATED"])
      yield* sandbox.setFaults([{ path: "/api/v1/credentials/list", fault: { _tag: "Status", status: 503 } }])
      const error = yield* Effect.flip(connectionSummary(user))
      assert.strictEqual(error._tag, "TinkApiError")
      assert.strictEqual(error.status, 503)
    }).pipe(Effect.provide(TinkTest)))

  it.effect("fails with TinkAuthenticationError when the token is not valid", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(["UPDATED"])
      const error = yield* Effect.flip(connectionSummary({ ...user, accessToken: Redacted.make("expired") }))
      assert.strictEqual(error._tag, "TinkAuthenticationError")
    }).pipe(Effect.provide(TinkTest)))
})
