import { assert, describe, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { Sandbox } from "../src/index.js"
import {
  body,
  clientId,
  clientSecret,
  clientToken,
  exchange,
  form,
  grantCode,
  postJson,
  provideSandbox,
  send
} from "./utils.js"

describe("oauth/token", () => {
  it.effect("client_credentials gives a bearer token with the client's scopes by default", () =>
    Effect.gen(function*() {
      const response = yield* form("/api/v1/oauth/token", {
        grant_type: "client_credentials",
        client_id: clientId,
        client_secret: clientSecret
      })
      assert.strictEqual(response.status, 200)
      const json = yield* body(response)
      assert.strictEqual(json.token_type, "bearer")
      assert.strictEqual(json.expires_in, 1800)
      assert.deepStrictEqual(json.scope.split(","), [...Sandbox.allScopes])
      assert.match(json.access_token, /^[0-9a-f]{64}$/)
      // Tink sends the key with null in every client-credentials answer (permanent-users guide).
      assert.isTrue("id_hint" in json)
      assert.isNull(json.id_hint)
      // Tink's documented request id header; the undocumented X-Tink-Request-ID is gone.
      assert.isString(response.headers["x-request-id"])
      assert.isUndefined(response.headers["x-tink-request-id"])
    }).pipe(provideSandbox()))

  it.effect("client_credentials narrows to a subset of scopes and rejects others", () =>
    Effect.gen(function*() {
      const narrowed = yield* form("/api/v1/oauth/token", {
        grant_type: "client_credentials",
        client_id: "narrow",
        client_secret: "s",
        scope: "user:create"
      })
      assert.strictEqual((yield* body(narrowed)).scope, "user:create")
      const refused = yield* form("/api/v1/oauth/token", {
        grant_type: "client_credentials",
        client_id: "narrow",
        client_secret: "s",
        scope: "user:create,credentials:read"
      })
      assert.strictEqual(refused.status, 400)
      const json = yield* body(refused)
      assert.strictEqual(json.errorCode, "invalid_scope")
      assert.deepStrictEqual(Object.keys(json).sort(), ["errorCode", "errorMessage"])
    }).pipe(provideSandbox({ clients: [{ clientId: "narrow", clientSecret: "s", scopes: ["user:create"] }] })))

  it.effect("a wrong secret or unknown client is 401", () =>
    Effect.gen(function*() {
      const badSecret = yield* form("/api/v1/oauth/token", {
        grant_type: "client_credentials",
        client_id: clientId,
        client_secret: "nope"
      })
      assert.strictEqual(badSecret.status, 401)
      assert.strictEqual((yield* body(badSecret)).errorCode, "invalid_client")
      const unknown = yield* form("/api/v1/oauth/token", {
        grant_type: "client_credentials",
        client_id: "who",
        client_secret: clientSecret
      })
      assert.strictEqual(unknown.status, 401)
    }).pipe(provideSandbox()))

  it.effect("a JSON body and an unsupported grant type are 400", () =>
    Effect.gen(function*() {
      const json = yield* postJson("/api/v1/oauth/token", {
        grant_type: "client_credentials",
        client_id: clientId,
        client_secret: clientSecret
      })
      assert.strictEqual(json.status, 400)
      const refreshGrant = yield* form("/api/v1/oauth/token", {
        grant_type: "refresh_token",
        client_id: clientId,
        client_secret: clientSecret
      })
      assert.strictEqual(refreshGrant.status, 400)
      assert.strictEqual((yield* body(refreshGrant)).errorCode, "unsupported_grant_type")
    }).pipe(provideSandbox()))

  it.effect("authorization_code is single use and gives a token for the grant's user and scope", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { userId } = yield* sandbox.createUser({})
      yield* sandbox.addCredential(userId)
      const code = yield* grantCode(yield* clientToken(), userId, "credentials:read")
      const first = yield* exchange(code)
      assert.strictEqual(first.status, 200)
      const token = yield* body(first)
      assert.strictEqual(token.scope, "credentials:read")
      assert.strictEqual(token.expires_in, 7200)
      const list = yield* body(yield* send("GET", "/api/v1/credentials/list", token.access_token))
      assert.strictEqual(list.credentials[0].userId, userId)
      const second = yield* exchange(code)
      assert.strictEqual(second.status, 400)
      assert.strictEqual((yield* body(second)).errorCode, "invalid_grant")
    }).pipe(provideSandbox()))

  it.effect("an unknown or expired code is 400", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { userId } = yield* sandbox.createUser({})
      assert.strictEqual((yield* exchange("not-a-code")).status, 400)
      const code = yield* grantCode(yield* clientToken(), userId, "user:read")
      yield* TestClock.adjust("11 minutes")
      assert.strictEqual((yield* exchange(code)).status, 400)
    }).pipe(provideSandbox()))

  it.effect("tokens expire on the Clock", () =>
    Effect.gen(function*() {
      const token = yield* clientToken()
      assert.strictEqual((yield* postJson("/api/v1/user/create", { market: "SE" }, token)).status, 200)
      yield* TestClock.adjust("1801 seconds")
      assert.strictEqual((yield* postJson("/api/v1/user/create", { market: "SE" }, token)).status, 401)
    }).pipe(provideSandbox()))
})

describe("oauth/authorization-grant", () => {
  it.effect("needs exactly one of user_id and external_user_id, and a scope", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { userId } = yield* sandbox.createUser({ externalUserId: "ext-1" })
      const token = yield* clientToken()
      const path = "/api/v1/oauth/authorization-grant"
      const both = yield* form(path, { user_id: userId, external_user_id: "ext-1", scope: "user:read" }, token)
      assert.strictEqual(both.status, 400)
      assert.strictEqual((yield* form(path, { scope: "user:read" }, token)).status, 400)
      assert.strictEqual((yield* form(path, { user_id: userId }, token)).status, 400)
      const byExternal = yield* form(path, { external_user_id: "ext-1", scope: "user:read" }, token)
      assert.strictEqual(byExternal.status, 200)
      assert.isString((yield* body(byExternal)).code)
    }).pipe(provideSandbox()))

  it.effect("an unknown user is 404", () =>
    Effect.gen(function*() {
      const token = yield* clientToken()
      const response = yield* form(
        "/api/v1/oauth/authorization-grant",
        { user_id: "nobody", scope: "user:read" },
        token
      )
      assert.strictEqual(response.status, 404)
    }).pipe(provideSandbox()))

  it.effect("needs a client token with authorization:grant: 401 otherwise, as Tink documents for grants", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { userId } = yield* sandbox.createUser({})
      for (const path of ["/api/v1/oauth/authorization-grant", "/api/v1/oauth/authorization-grant/delegate"]) {
        const params = { user_id: userId, scope: "user:read", id_hint: "Jo", actor_client_id: "x" }
        assert.strictEqual((yield* form(path, params)).status, 401)
        assert.strictEqual((yield* form(path, params, yield* clientToken("user:create"))).status, 401)
        const asUser = yield* sandbox.issueUserToken(userId, ["authorization:grant"])
        assert.strictEqual((yield* form(path, params, asUser)).status, 401)
      }
    }).pipe(provideSandbox()))

  it.effect("a scope the client may not use is 401 (\"isn't allowed to use the scope\")", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { userId } = yield* sandbox.createUser({})
      const token = yield* Effect.flatMap(
        form("/api/v1/oauth/token", { grant_type: "client_credentials", client_id: "narrow", client_secret: "s" }),
        body
      )
      const path = "/api/v1/oauth/authorization-grant"
      const refused = yield* form(path, { user_id: userId, scope: "credentials:read" }, token.access_token)
      assert.strictEqual(refused.status, 401)
      const allowed = yield* form(path, { user_id: userId, scope: "user:read" }, token.access_token)
      assert.strictEqual(allowed.status, 200)
    }).pipe(provideSandbox({
      clients: [{ clientId: "narrow", clientSecret: "s", scopes: ["authorization:grant", "user:read"] }]
    })))

  it.effect("delegate needs id_hint and actor_client_id, and the token echoes id_hint", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { userId } = yield* sandbox.createUser({})
      const token = yield* clientToken()
      const path = "/api/v1/oauth/authorization-grant/delegate"
      const missing = yield* form(path, { user_id: userId, scope: "user:read", id_hint: "Ann" }, token)
      assert.strictEqual(missing.status, 400)
      const granted = yield* form(path, {
        user_id: userId,
        scope: "user:read",
        id_hint: "Ann",
        actor_client_id: "other-app"
      }, token)
      assert.strictEqual(granted.status, 200)
      const exchanged = yield* body(yield* exchange((yield* body(granted)).code))
      assert.strictEqual(exchanged.id_hint, "Ann")
    }).pipe(provideSandbox()))
})
