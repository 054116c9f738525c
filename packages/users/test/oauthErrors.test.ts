/**
 * OAuth and grant failures keep Tink's errorCode and errorMessage, say what they mean and which
 * step failed (issue 9.5), and never keep any part of a code, token or secret (issue 10.9). A 401
 * from a grant endpoint is not "renew the token and resend" (issue 9.7).
 */
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@tink-effect/sandbox"
import { Ids, Users } from "@tink-effect/users"
import { Effect, Redacted } from "effect"
import { leakedPart, renderings } from "./reliability/leaks.js"
import { as, clientSecret, count, seedUser, testLayer } from "./utils.js"

const token = "/api/v1/oauth/token"
const grant = "/api/v1/oauth/authorization-grant"

const assertNoLeak = (error: unknown, secrets: ReadonlyArray<string>) => {
  for (const text of renderings(error)) {
    for (const secret of secrets) assert.isUndefined(leakedPart(text, secret), `a part of a secret in: ${text}`)
  }
}

describe("OAuth errors say what Tink said and what it means", () => {
  it.effect("a wrong client secret: app credentials rejected, with Tink's code and the step that failed", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Users.createUser({ market: "SE" }))
      assert.strictEqual(error._tag, "TinkAuthenticationError")
      assert.strictEqual(error.status, 401)
      assert.strictEqual(error.errorCode, "invalid_client")
      assert.isString(error.errorMessage)
      assert.strictEqual(
        error.hint,
        "app credentials rejected by Tink (invalid_client): check TINK_CLIENT_ID and TINK_CLIENT_SECRET"
      )
      assert.strictEqual(error.step, "getting the app token (user:create) for createUser")
      assert.include(error.message, "app credentials rejected by Tink (invalid_client)")
      assert.include(error.message, "for createUser")
      assertNoLeak(error, ["wrong-client-secret-value"])
    }).pipe(Effect.provide(testLayer({ clientSecret: "wrong-client-secret-value" }))))

  it.effect("a wrong client secret in deleteUser names the step of deleteUser that failed", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Users.deleteUser(Ids.UserId.make("some-user")))
      assert.strictEqual(error._tag, "TinkAuthenticationError")
      assert.include(error.message, "check TINK_CLIENT_ID and TINK_CLIENT_SECRET")
      assert.include(error.step, "for createAuthorization, in granting user:delete for deleteUser")
    }).pipe(Effect.provide(testLayer({ clientSecret: "wrong-client-secret-value" }))))

  it.effect("a used authorization code: Tink's invalid_grant, and what it means", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(0)
      const { code } = yield* Users.createAuthorization({ userId: user.userId, scope: "credentials:read" })
      yield* Users.getUserAccessToken(code)
      const error = yield* Effect.flip(Users.getUserAccessToken(code))
      assert.strictEqual(error._tag, "TinkValidationError")
      assert.strictEqual(error.errorCode, "invalid_grant")
      assert.include(error.message, "authorization code rejected by Tink (invalid_grant)")
      assertNoLeak(error, [Redacted.value(code), clientSecret])
    }).pipe(Effect.provide(testLayer())))

  it.effect("a 404 from the grant endpoint keeps Tink's code and says the user was not found", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Users.createAuthorization({ userId: Ids.UserId.make("no-such-user"), scope: "user:read" })
      )
      assert.strictEqual(error._tag, "TinkNotFoundError")
      assert.isDefined(error.errorCode)
      assert.include(error.message, "user not found by Tink")
    }).pipe(Effect.provide(testLayer())))
})

describe("a 401 from a grant endpoint is not an expired token", () => {
  it.effect("it fails at once, without a new token and a second grant; the next call gets a new token", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(0)
      yield* sandbox.setFaults([{
        path: grant,
        times: 1,
        fault: { _tag: "Status", status: 401, errorCode: "NO_ACCESS", errorMessage: "No access to user" }
      }])
      const error = yield* Effect.flip(Users.createAuthorization({ userId: user.userId, scope: "user:read" }))
      assert.strictEqual(error._tag, "TinkAuthenticationError")
      assert.strictEqual(error.errorCode, "NO_ACCESS")
      assert.include(error.message, "grant refused by Tink (NO_ACCESS)")
      assert.strictEqual(yield* count("POST", grant), 1, "not resent")
      assert.strictEqual(yield* count("POST", token), 1, "no token renewed for it")
      // The token was dropped all the same, in case it had expired: the next call fetches one.
      yield* Users.createAuthorization({ userId: user.userId, scope: "user:read" })
      assert.strictEqual(yield* count("POST", token), 2)
    }).pipe(Effect.provide(testLayer())))

  it.effect("the same for the delegated grant", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(0)
      yield* sandbox.setFaults([{ path: `${grant}/delegate`, times: 1, fault: { _tag: "Status", status: 401 } }])
      const error = yield* Effect.flip(Users.createAuthorization({
        userId: user.userId,
        scope: "credentials:read",
        idHint: "Jane",
        actorClientId: Users.tinkLinkActorClientId
      }))
      assert.strictEqual(error._tag, "TinkAuthenticationError")
      assert.strictEqual(yield* count("POST", `${grant}/delegate`), 1)
    }).pipe(Effect.provide(testLayer())))

  it.effect("elsewhere a 401 to an app token still renews the token and resends once", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.setFaults([{ path: "/api/v1/user/create", times: 1, fault: { _tag: "Status", status: 401 } }])
      yield* Users.createUser({ market: "SE" })
      assert.strictEqual(yield* count("POST", "/api/v1/user/create"), 2)
      assert.strictEqual(yield* count("POST", token), 2)
    }).pipe(Effect.provide(testLayer())))
})

describe("no part of a secret survives in an error", () => {
  it.effect("an OAuth error body that echoes the code and the client secret keeps neither", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(0)
      const { code } = yield* Users.createAuthorization({ userId: user.userId, scope: "credentials:read" })
      const raw = Redacted.value(code)
      const body = JSON.stringify({
        errorCode: `bad_code_${raw.slice(0, 12)}`,
        errorMessage: `code=${encodeURIComponent(raw)}&client_secret=${clientSecret} rejected; code ${
          raw.slice(3)
        } tail ${raw.slice(0, 9)}`,
        requestId: raw
      })
      yield* sandbox.setFaults([{ path: token, times: 1, fault: { _tag: "Body", status: 400, body } }])
      const error = yield* Effect.flip(Users.getUserAccessToken(code))
      assert.strictEqual(error._tag, "TinkValidationError")
      assert.isDefined(error.errorMessage, "Tink's message is kept, scrubbed")
      assert.include(error.errorMessage, "rejected")
      assertNoLeak(error, [raw, clientSecret])
    }).pipe(Effect.provide(testLayer())))

  it.effect("a token straddling the 500-character cut leaves none of its characters", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(1)
      const raw = Redacted.value(user.token)
      for (const offset of [480, 490, 495, 499]) {
        const message = "x".repeat(offset) + raw + " and more"
        yield* sandbox.setFaults([{
          path: "/api/v1/credentials/list",
          times: 1,
          fault: { _tag: "Body", status: 400, body: JSON.stringify({ errorCode: "BAD", errorMessage: message }) }
        }])
        const error = yield* Effect.flip(as(user)(Users.listCredentials()))
        assert.strictEqual(error._tag, "TinkValidationError")
        assertNoLeak(error, [raw])
        assert.isAtMost(error.errorMessage!.length, 500)
      }
    }).pipe(Effect.provide(testLayer())))
})
