import { assert, describe, it } from "@effect/vitest"
import { ResponseCache, TinkClient } from "@tink-effect/core"
import { Ids, Users } from "@tink-effect/users"
import { Effect, Exit, Redacted } from "effect"
import * as Sandbox from "../src/Sandbox.js"
import * as SandboxClient from "../src/SandboxClient.js"

const list = "/api/v1/credentials/list"
const count = Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.requestCount("GET", list))
const failWith = (fault: Sandbox.Fault, times?: number) =>
  Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.setFaults([{ path: list, fault, times }]))

describe("SandboxClient.layer: the client over an in-memory sandbox in one line", () => {
  it.effect("the sandbox's app credentials are filled in: app-token operations work", () =>
    Effect.gen(function*() {
      const created = yield* Users.createUser({ market: "SE" })
      const sandbox = yield* Sandbox.Sandbox
      assert.isTrue(yield* sandbox.userExists(created.userId))
      assert.strictEqual(yield* sandbox.usersCreated, 1)
      assert.strictEqual((yield* ResponseCache.stats).size, 0)
      yield* TinkClient.TinkClient
    }).pipe(Effect.provide(SandboxClient.layer())))

  it.effect("the first of the sandbox's own clients is the one used", () =>
    Effect.gen(function*() {
      yield* Users.createUser({ market: "SE" })
      assert.strictEqual(yield* Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.usersCreated), 1)
    }).pipe(Effect.provide(SandboxClient.layer({
      sandbox: { clients: [{ clientId: "my-app", clientSecret: "my-secret", scopes: Sandbox.allScopes }] }
    }))))

  // Under the TestClock a backoff only ends when the test moves the clock: with the client's
  // default delays this test would hang until vitest's timeout.
  it.effect("a Tink that keeps failing fails at once under the TestClock, after the production retries", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser()
      yield* failWith({ _tag: "Status", status: 503 })
      const error = yield* Effect.flip(Users.listCredentials().pipe(Users.asUser(user)))
      assert.strictEqual(error._tag, "TinkApiError")
      assert.strictEqual(error.status, 503)
      assert.strictEqual(yield* count, 4, "the first attempt and 3 retries, as in production")
    }).pipe(Effect.provide(SandboxClient.layer())))

  it.effect("a transient failure is retried without waiting, as production would after its backoff", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser({ credentials: 1 })
      yield* failWith({ _tag: "Status", status: 503 }, 1)
      assert.lengthOf(yield* Users.listCredentials().pipe(Users.asUser(user)), 1)
      assert.strictEqual(yield* count, 2)
    }).pipe(Effect.provide(SandboxClient.layer())))

  it.effect("a Retry-After fails at once with its TinkRateLimitError instead of waiting on the TestClock", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser()
      yield* failWith({ _tag: "Status", status: 429, retryAfter: "30" })
      const error = yield* Effect.flip(Users.listCredentials().pipe(Users.asUser(user)))
      assert.strictEqual(error._tag, "TinkRateLimitError")
      assert.strictEqual(yield* count, 1)
    }).pipe(Effect.provide(SandboxClient.layer())))

  it.effect("client options go over the test defaults, e.g. no retries", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser()
      yield* failWith({ _tag: "Status", status: 503 })
      yield* Effect.exit(Users.listCredentials().pipe(Users.asUser(user)))
      assert.strictEqual(yield* count, 1)
    }).pipe(Effect.provide(SandboxClient.layer({ client: { maxRetries: 0 } }))))

  it.effect("TinkClient.withRequestOptions: a cached read with maxRetries 0 makes one attempt while the layer says 3", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser()
      yield* failWith({ _tag: "Status", status: 503 })
      const read = Users.listCredentials().pipe(Users.asUser(user))
      yield* Effect.exit(read.pipe(TinkClient.withRequestOptions({ maxRetries: 0 })))
      assert.strictEqual(yield* count, 1)
      yield* Effect.exit(read)
      assert.strictEqual(yield* count, 1 + 4)
    }).pipe(Effect.provide(SandboxClient.layer({ client: { maxRetries: 3 } }))))

  it.effect("bad client options are a defect naming the option", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Effect.provide(TinkClient.TinkClient, SandboxClient.layer({ client: { maxRetries: -1 } }))
      )
      assert.isTrue(Exit.isFailure(exit) && exit.cause._tag === "Die")
      assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "maxRetries")
    }))
})

describe("SandboxClient seeding", () => {
  it.effect("seedUser: branded ids and a Redacted token, ready for Users.asUser", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser({
        credentials: [{ status: "UPDATED" }, { status: "AUTHENTICATION_ERROR", providerName: "se-demobank" }]
      })
      assert.isTrue(Redacted.isRedacted(user.accessToken))
      assert.notInclude(String(user.accessToken), Redacted.value(user.accessToken))
      assert.notInclude(JSON.stringify(user), Redacted.value(user.accessToken))
      // The ids are the ones the operations take, not strings to decode first.
      const userId: Ids.UserId = user.userId
      const credentialId: Ids.CredentialId = user.credentials[1].id
      assert.strictEqual(user.credentials[1].userId, userId)
      const listed = yield* Users.listCredentials().pipe(Users.asUser(user))
      assert.deepStrictEqual(listed.map((credential) => credential.status), ["UPDATED", "AUTHENTICATION_ERROR"])
      const one = yield* Users.getCredential(credentialId).pipe(Users.asUser(user))
      assert.strictEqual(one.providerName, "se-demobank")
      // The default scopes cover every user operation: refresh, delete a credential, delete the user.
      yield* Users.refreshCredential(user.credentials[0].id).pipe(Users.asUser(user))
      yield* Users.deleteCredential(credentialId).pipe(Users.asUser(user))
      yield* Users.deleteUser(userId).pipe(Users.asUser(user))
      assert.isFalse(yield* Effect.flatMap(Sandbox.Sandbox, (sandbox) => sandbox.userExists(userId)))
    }).pipe(Effect.provide(SandboxClient.layer())))

  it.effect("seedUser with a number of credentials; seedToken narrows scopes; seedCredential adds one", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser({ credentials: 2, market: "NO", externalUserId: "ext-1" })
      assert.lengthOf(user.credentials, 2)
      const readOnly = yield* SandboxClient.seedToken(user.userId, ["credentials:read"])
      const session = { userId: user.userId, accessToken: readOnly }
      const added = yield* SandboxClient.seedCredential(user.userId, { status: "TEMPORARY_ERROR" })
      assert.lengthOf(yield* Users.listCredentials().pipe(Users.asUser(session)), 3)
      const refused = yield* Effect.flip(Users.deleteCredential(added.id).pipe(Users.asUser(session)))
      assert.strictEqual(refused._tag, "TinkAuthenticationError")
      assert.strictEqual(refused.status, 403)
    }).pipe(Effect.provide(SandboxClient.layer())))
})
