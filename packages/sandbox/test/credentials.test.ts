import { HttpClient, HttpClientRequest } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { Sandbox } from "../src/index.js"
import { base, body, postJson, provideSandbox, send } from "./utils.js"

const allCredentialScopes = ["credentials:read", "credentials:write", "credentials:refresh"]

/** Two users with one credential each, and a token for each. */
const twoUsers = Effect.gen(function*() {
  const sandbox = yield* Sandbox.Sandbox
  const alice = yield* sandbox.createUser({})
  const bob = yield* sandbox.createUser({})
  const aliceCredential = yield* sandbox.addCredential(alice.userId, { providerName: "se-bank-a" })
  const bobCredential = yield* sandbox.addCredential(bob.userId, { providerName: "se-bank-b" })
  return {
    sandbox,
    aliceCredential,
    bobCredential,
    aliceToken: yield* sandbox.issueUserToken(alice.userId, allCredentialScopes),
    bobToken: yield* sandbox.issueUserToken(bob.userId, allCredentialScopes)
  }
})

const refresh = (id: string, token: string, query = "") =>
  send("POST", `/api/v1/credentials/${id}/refresh${query}`, token)

const statusOf = (id: string, token: string) => Effect.flatMap(send("GET", `/api/v1/credentials/${id}`, token), body)

describe("credentials", () => {
  it.effect("list returns only the token's user's credentials, in Tink's shape", () =>
    Effect.gen(function*() {
      const { aliceCredential, aliceToken, bobToken } = yield* twoUsers
      const alice = yield* body(yield* send("GET", "/api/v1/credentials/list", aliceToken))
      assert.deepStrictEqual(alice.credentials, [aliceCredential])
      assert.deepStrictEqual(Object.keys(alice.credentials[0]).sort(), [
        "fields",
        "id",
        "providerName",
        "sessionExpiryDate",
        "status",
        "statusPayload",
        "statusUpdated",
        "supplementalInformation",
        "type",
        "updated",
        "userId"
      ])
      const bob = yield* body(yield* send("GET", "/api/v1/credentials/list", bobToken))
      assert.deepStrictEqual(bob.credentials.map((c: any) => c.providerName), ["se-bank-b"])
    }).pipe(provideSandbox()))

  it.effect("get is 404 for another user's credential and for unknown ids", () =>
    Effect.gen(function*() {
      const { aliceCredential, aliceToken, bobToken } = yield* twoUsers
      const own = yield* send("GET", `/api/v1/credentials/${aliceCredential.id}`, aliceToken)
      assert.strictEqual(own.status, 200)
      assert.deepStrictEqual(yield* body(own), aliceCredential)
      assert.strictEqual((yield* send("GET", `/api/v1/credentials/${aliceCredential.id}`, bobToken)).status, 404)
      assert.strictEqual((yield* send("GET", "/api/v1/credentials/unknown", aliceToken)).status, 404)
    }).pipe(provideSandbox()))

  it.effect("delete is 204 for the owner only, then the credential is gone", () =>
    Effect.gen(function*() {
      const { aliceCredential, aliceToken, bobToken } = yield* twoUsers
      const path = `/api/v1/credentials/${aliceCredential.id}`
      assert.strictEqual((yield* send("DELETE", path, bobToken)).status, 404)
      const deleted = yield* send("DELETE", path, aliceToken)
      assert.strictEqual(deleted.status, 204)
      assert.strictEqual((yield* send("GET", path, aliceToken)).status, 404)
      assert.strictEqual((yield* send("DELETE", path, aliceToken)).status, 404)
    }).pipe(provideSandbox()))

  it.effect("each endpoint checks its scope: 403 without it", () =>
    Effect.gen(function*() {
      const { aliceCredential, sandbox } = yield* twoUsers
      const readOnly = yield* sandbox.issueUserToken(aliceCredential.userId, ["credentials:read"])
      const writeOnly = yield* sandbox.issueUserToken(aliceCredential.userId, ["credentials:write"])
      assert.strictEqual((yield* send("GET", "/api/v1/credentials/list", writeOnly)).status, 403)
      assert.strictEqual((yield* send("DELETE", `/api/v1/credentials/${aliceCredential.id}`, readOnly)).status, 403)
      assert.strictEqual((yield* refresh(aliceCredential.id, readOnly)).status, 403)
      assert.strictEqual((yield* send("GET", "/api/v1/credentials/list", "garbage")).status, 401)
      assert.strictEqual((yield* send("GET", "/api/v1/credentials/list")).status, 401)
    }).pipe(provideSandbox()))

  it.effect("refresh is 204, a second one while it runs is 409, and the status moves with the Clock", () =>
    Effect.gen(function*() {
      const { aliceCredential, aliceToken, bobToken } = yield* twoUsers
      const id = aliceCredential.id
      yield* TestClock.adjust("10 seconds")
      const started = yield* refresh(id, aliceToken, "?items=CHECKING_ACCOUNTS&items=IDENTITY_DATA&optIn=true")
      assert.strictEqual(started.status, 204)
      const authenticating = yield* statusOf(id, aliceToken)
      assert.strictEqual(authenticating.status, "AUTHENTICATING")
      assert.strictEqual(authenticating.statusUpdated, 10_000)
      assert.strictEqual(authenticating.updated, 0)

      const again = yield* refresh(id, aliceToken)
      assert.strictEqual(again.status, 409)
      assert.strictEqual((yield* body(again)).errorCode, "REFRESH_IN_PROGRESS")
      assert.strictEqual((yield* refresh(id, bobToken)).status, 404)

      yield* TestClock.adjust("1 second")
      const updating = yield* statusOf(id, aliceToken)
      assert.strictEqual(updating.status, "UPDATING")
      assert.strictEqual(updating.statusUpdated, 11_000)
      assert.strictEqual((yield* refresh(id, aliceToken)).status, 409)

      yield* TestClock.adjust("1 second")
      const updated = yield* statusOf(id, aliceToken)
      assert.strictEqual(updated.status, "UPDATED")
      assert.strictEqual(updated.statusUpdated, 12_000)
      assert.strictEqual(updated.updated, 12_000)

      assert.strictEqual((yield* refresh(id, aliceToken)).status, 204)
      const listed = yield* body(yield* send("GET", "/api/v1/credentials/list", aliceToken))
      assert.strictEqual(listed.credentials[0].status, "AUTHENTICATING")
      assert.strictEqual(listed.credentials[0].updated, 12_000)
    }).pipe(provideSandbox()))

  it.effect("refresh follows refreshStepMillis", () =>
    Effect.gen(function*() {
      const { aliceCredential, aliceToken } = yield* twoUsers
      assert.strictEqual((yield* refresh(aliceCredential.id, aliceToken)).status, 204)
      yield* TestClock.adjust("4999 millis")
      assert.strictEqual((yield* statusOf(aliceCredential.id, aliceToken)).status, "AUTHENTICATING")
      yield* TestClock.adjust("1 milli")
      assert.strictEqual((yield* statusOf(aliceCredential.id, aliceToken)).status, "UPDATING")
    }).pipe(provideSandbox({ refreshStepMillis: 5000 })))

  it.effect("refresh accepts an optional JSON body and rejects bad query values", () =>
    Effect.gen(function*() {
      const { aliceCredential, aliceToken } = yield* twoUsers
      const path = `/api/v1/credentials/${aliceCredential.id}/refresh`
      assert.strictEqual((yield* refresh(aliceCredential.id, aliceToken, "?optIn=maybe")).status, 400)
      assert.strictEqual((yield* refresh(aliceCredential.id, aliceToken, "?items=not%20an%20item")).status, 400)
      const textBody = yield* HttpClient.execute(
        HttpClientRequest.post(`${base}${path}`).pipe(
          HttpClientRequest.bodyText("not json", "text/plain"),
          HttpClientRequest.bearerToken(aliceToken)
        )
      )
      assert.strictEqual(textBody.status, 400)
      const withBody = yield* postJson(path, { callbackUri: "https://example.com/cb" }, aliceToken)
      assert.strictEqual(withBody.status, 204)
    }).pipe(provideSandbox()))

  it.effect("addCredential seeds non-default statuses that the API serves as they are", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { userId } = yield* sandbox.createUser({ market: "GB" })
      const credential = yield* sandbox.addCredential(userId, { status: "TEMPORARY_ERROR", type: "THIRD_PARTY_APP" })
      assert.strictEqual(credential.status, "TEMPORARY_ERROR")
      assert.strictEqual(credential.updated, null)
      const token = yield* sandbox.issueUserToken(userId, ["credentials:read"])
      assert.deepStrictEqual(yield* statusOf(credential.id, token), credential)
    }).pipe(provideSandbox()))

  it.effect("credentials waiting on the user carry supplementalInformation as a JSON string; others null", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { userId } = yield* sandbox.createUser({})
      const token = yield* sandbox.issueUserToken(userId, allCredentialScopes)
      const fields = yield* sandbox.addCredential(userId, { status: "AWAITING_SUPPLEMENTAL_INFORMATION" })
      const app = yield* sandbox.addCredential(userId, { status: "AWAITING_THIRD_PARTY_APP_AUTHENTICATION" })
      const updated = yield* sandbox.addCredential(userId, {})
      const served = yield* statusOf(fields.id, token)
      assert.isString(served.supplementalInformation)
      const asked = JSON.parse(served.supplementalInformation)
      assert.isTrue(Array.isArray(asked) && typeof asked[0].name === "string")
      const payload = JSON.parse((yield* statusOf(app.id, token)).supplementalInformation)
      assert.include(payload.desktop.url, app.id)
      assert.isString(payload.ios.deepLinkUrl)
      assert.isNull((yield* statusOf(updated.id, token)).supplementalInformation)
    }).pipe(provideSandbox()))

  it.effect("supplementalInformation is seedable (any string, or null) and a refresh clears it", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { userId } = yield* sandbox.createUser({})
      const token = yield* sandbox.issueUserToken(userId, allCredentialScopes)
      const bankId = yield* sandbox.addCredential(userId, {
        status: "AWAITING_MOBILE_BANKID_AUTHENTICATION",
        supplementalInformation: "4d13a3a4-38e9-37d8-11cc-6e89982e4b70"
      })
      assert.strictEqual((yield* statusOf(bankId.id, token)).supplementalInformation, bankId.supplementalInformation)
      const silent = yield* sandbox.addCredential(userId, {
        status: "AWAITING_SUPPLEMENTAL_INFORMATION",
        supplementalInformation: null
      })
      assert.isNull((yield* statusOf(silent.id, token)).supplementalInformation)
      const waiting = yield* sandbox.addCredential(userId, { status: "AWAITING_THIRD_PARTY_APP_AUTHENTICATION" })
      assert.strictEqual((yield* refresh(waiting.id, token)).status, 204)
      const refreshing = yield* statusOf(waiting.id, token)
      assert.strictEqual(refreshing.status, "AUTHENTICATING")
      assert.isNull(refreshing.supplementalInformation)
    }).pipe(provideSandbox()))
})
