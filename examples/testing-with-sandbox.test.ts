/**
 * Testing your own code with the sandbox: `SandboxClient.layer()` is the real client (auth,
 * retries, decoding, cache) over a fresh fake Tink reached in memory, with no sockets and no
 * network, in one line. The TestClock drives time, cache TTLs included; retries do not wait.
 *
 *   npx vitest run --root examples
 */
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxClient from "@tink-effect/sandbox/SandboxClient"
import { Users } from "@tink-effect/users"
import { Effect, Redacted, TestClock } from "effect"

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

/** The real Tink client over a fresh in-memory sandbox, with a memory cache and the sandbox's app. */
const TinkTest = SandboxClient.layer()

/** A user with bank credentials and a token, seeded straight into the sandbox (no requests). */
const seedUser = (statuses: ReadonlyArray<string>) =>
  SandboxClient.seedUser({ credentials: statuses.map((status) => ({ status })), scopes: ["credentials:read"] })

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
