import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@tink-effect/sandbox"
import { Users } from "@tink-effect/users"
import { Effect, Redacted } from "effect"
import { as, clientSecret, count, seedUser, testLayer } from "./utils.js"

const lastRequest = (method: string, path: string) =>
  Effect.flatMap(
    Sandbox.Sandbox,
    (sandbox) =>
      Effect.map(sandbox.requests, (all) => all.filter((r) => r.method === method && r.path === path).at(-1)!)
  )

describe("Users operations against the sandbox", () => {
  it.effect("createUser posts snake_case JSON with an app token and decodes the new user", () =>
    Effect.gen(function*() {
      const created = yield* Users.createUser({ market: "SE", locale: "sv_SE", externalUserId: "ext-1" })
      assert.match(created.userId, /^[A-Za-z0-9._~-]+$/)
      assert.strictEqual(created.externalUserId, "ext-1")
      const request = yield* lastRequest("POST", "/api/v1/user/create")
      assert.strictEqual(request.contentType, "application/json")
      assert.deepStrictEqual(JSON.parse(request.body), { market: "SE", locale: "sv_SE", external_user_id: "ext-1" })
      const token = yield* lastRequest("POST", "/api/v1/oauth/token")
      const form = new URLSearchParams(token.body)
      assert.strictEqual(form.get("grant_type"), "client_credentials")
      assert.strictEqual(form.get("scope"), "user:create")
      assert.match(request.headers.authorization, /^Bearer \S+$/)
      assert.isTrue(yield* Effect.flatMap(Sandbox.Sandbox, (s) => s.userExists(created.userId)))
    }).pipe(Effect.provide(testLayer())))

  it.effect("the app token is fetched once and reused across operations", () =>
    Effect.gen(function*() {
      yield* Effect.all([Users.createUser({ market: "SE" }), Users.createUser({ market: "GB" })], { concurrency: 2 })
      yield* Users.createUser({ market: "DE" })
      assert.strictEqual(yield* count("POST", "/api/v1/oauth/token"), 1)
      assert.strictEqual(yield* count("POST", "/api/v1/user/create"), 3)
    }).pipe(Effect.provide(testLayer())))

  it.effect("createAuthorization posts a form with user_id and scope; the code is Redacted", () =>
    Effect.gen(function*() {
      const { userId } = yield* Users.createUser({ market: "SE" })
      const grant = yield* Users.createAuthorization({ userId, scope: "credentials:read" })
      assert.isTrue(Redacted.isRedacted(grant.code))
      assert.notInclude(String(grant.code), Redacted.value(grant.code))
      const request = yield* lastRequest("POST", "/api/v1/oauth/authorization-grant")
      assert.strictEqual(request.contentType, "application/x-www-form-urlencoded")
      const form = new URLSearchParams(request.body)
      assert.deepStrictEqual([form.get("user_id"), form.get("scope")], [userId, "credentials:read"])
    }).pipe(Effect.provide(testLayer())))

  it.effect("createAuthorization with idHint and actorClientId uses the delegate endpoint", () =>
    Effect.gen(function*() {
      yield* Users.createUser({ market: "SE", externalUserId: "shop-42" })
      yield* Users.createAuthorization({
        externalUserId: "shop-42",
        scope: "credentials:read",
        idHint: "Jane",
        actorClientId: "actor-1"
      })
      const form = new URLSearchParams((yield* lastRequest("POST", "/api/v1/oauth/authorization-grant/delegate")).body)
      assert.deepStrictEqual(
        [form.get("external_user_id"), form.get("id_hint"), form.get("actor_client_id")],
        ["shop-42", "Jane", "actor-1"]
      )
    }).pipe(Effect.provide(testLayer())))

  it.effect("getUserAccessToken exchanges a code by form with the client credentials", () =>
    Effect.gen(function*() {
      const { userId } = yield* Users.createUser({ market: "SE" })
      const grant = yield* Users.createAuthorization({ userId, scope: "credentials:read" })
      const token = yield* Users.getUserAccessToken(grant.code)
      assert.isTrue(Redacted.isRedacted(token.accessToken))
      assert.strictEqual(token.tokenType.toLowerCase(), "bearer")
      assert.isAbove(token.expiresIn, 0)
      const form = new URLSearchParams((yield* lastRequest("POST", "/api/v1/oauth/token")).body)
      assert.deepStrictEqual(
        [form.get("grant_type"), form.get("client_id"), form.get("client_secret"), form.get("code")],
        ["authorization_code", "sandbox-client", clientSecret, Redacted.value(grant.code)]
      )
      const credentials = yield* as({ userId, token: token.accessToken })(Users.listCredentials())
      assert.deepStrictEqual(credentials, [])
    }).pipe(Effect.provide(testLayer())))

  it.effect("listCredentials and getCredential decode the user's credentials with the user token", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(2)
      const list = yield* as(user)(Users.listCredentials())
      assert.deepStrictEqual(list.map((c) => c.id).sort(), user.credentials.map((c) => c.id).sort())
      const one = yield* as(user)(Users.getCredential(user.credentials[0].id))
      assert.strictEqual(one.id, user.credentials[0].id)
      assert.strictEqual(one.providerName, user.credentials[0].providerName)
      const request = yield* lastRequest("GET", `/api/v1/credentials/${user.credentials[0].id}`)
      assert.strictEqual(request.headers.authorization, `Bearer ${Redacted.value(user.token)}`)
    }).pipe(Effect.provide(testLayer())))

  it.effect("deleteCredential sends DELETE and a 204 gives void, not an empty string", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      const result = yield* as(user)(Users.deleteCredential(user.credentials[0].id))
      assert.strictEqual(result, undefined)
      assert.strictEqual(yield* count("DELETE", `/api/v1/credentials/${user.credentials[0].id}`), 1)
      assert.deepStrictEqual(yield* as(user)(Users.listCredentials()), [])
    }).pipe(Effect.provide(testLayer())))

  it.effect("refreshCredential keeps repeated items in the query and gives void", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      const id = user.credentials[0].id
      const result = yield* as(user)(
        Users.refreshCredential(id, { items: ["CHECKING_ACCOUNTS", "SAVING_ACCOUNTS"], optIn: true })
      )
      assert.strictEqual(result, undefined)
      const request = yield* lastRequest("POST", `/api/v1/credentials/${id}/refresh`)
      assert.deepStrictEqual(request.query, [["items", "CHECKING_ACCOUNTS"], ["items", "SAVING_ACCOUNTS"], [
        "optIn",
        "true"
      ]])
      const credential = yield* as(user)(Users.getCredential(id))
      assert.strictEqual(credential.status, "AUTHENTICATING")
    }).pipe(Effect.provide(testLayer())))

  it.effect("concurrent refreshes of one credential share one request", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      const id = user.credentials[0].id
      yield* as(user)(Effect.all(Array.from({ length: 5 }, () => Users.refreshCredential(id)), { concurrency: 5 }))
      assert.strictEqual(yield* count("POST", `/api/v1/credentials/${id}/refresh`), 1)
    }).pipe(Effect.provide(testLayer())))

  it.effect("deleteUser works with app credentials only: grant, exchange, delete with a user:delete token", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      yield* Users.deleteUser(user.userId)
      assert.isFalse(yield* Effect.flatMap(Sandbox.Sandbox, (s) => s.userExists(user.userId)))
      const grant = new URLSearchParams((yield* lastRequest("POST", "/api/v1/oauth/authorization-grant")).body)
      assert.deepStrictEqual([grant.get("user_id"), grant.get("scope")], [user.userId, "user:delete"])
      const request = yield* lastRequest("POST", "/api/v1/user/delete")
      assert.strictEqual(request.body, "")
    }).pipe(Effect.provide(testLayer())))
})
