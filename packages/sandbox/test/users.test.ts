import { HttpClient, HttpClientRequest } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Sandbox } from "../src/index.js"
import { base, body, clientToken, createUser, form, postJson, provideSandbox, send, userToken } from "./utils.js"

describe("user/create", () => {
  it.effect("creates a user, with external_user_id null when absent", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const token = yield* clientToken("user:create")
      const response = yield* postJson("/api/v1/user/create", { market: "GB", locale: "en_GB" }, token)
      assert.strictEqual(response.status, 200)
      const json = yield* body(response)
      // As Tink's permanent-users guide shows it: `{"user_id": ...}` alone.
      assert.deepStrictEqual(Object.keys(json), ["user_id"])
      assert.match(json.user_id, /^[0-9a-f]{32}$/)
      assert.isTrue(yield* sandbox.userExists(json.user_id))
    }).pipe(provideSandbox()))

  it.effect("checks only what Tink documents: market required, retention class, JSON types", () =>
    Effect.gen(function*() {
      const token = yield* clientToken()
      const status = (input: unknown) => Effect.map(postJson("/api/v1/user/create", input, token), (r) => r.status)
      assert.strictEqual(yield* status({}), 400)
      assert.strictEqual(yield* status({ market: "SWE" }), 400)
      assert.strictEqual(yield* status({ market: 46 }), 400)
      assert.strictEqual(yield* status({ market: "SE", locale: 7 }), 400)
      assert.strictEqual(yield* status({ market: "SE", retention_class: "forever" }), 400)
      assert.strictEqual(yield* status({ market: "SE", retention_class: "temporary" }), 200)
      // The client's own input rules are not Tink's: Tink documents no locale format and no
      // character set for external_user_id, so the sandbox takes them as they come.
      assert.strictEqual(yield* status({ market: "se" }), 200)
      assert.strictEqual(yield* status({ market: "SE", locale: "english" }), 200)
      assert.strictEqual(yield* status({ market: "SE", external_user_id: "jo@example.com / 1" }), 200)
      const invalid = yield* postJson("/api/v1/user/create", { market: "SWE" }, token)
      assert.deepStrictEqual(Object.keys(yield* body(invalid)).sort(), ["errorCode", "errorMessage"])
    }).pipe(provideSandbox()))

  it.effect("a duplicate external_user_id is 409", () =>
    Effect.gen(function*() {
      const token = yield* clientToken()
      const first = yield* postJson("/api/v1/user/create", { market: "SE", external_user_id: "ext" }, token)
      assert.strictEqual((yield* body(first)).external_user_id, "ext")
      const second = yield* postJson("/api/v1/user/create", { market: "SE", external_user_id: "ext" }, token)
      assert.strictEqual(second.status, 409)
    }).pipe(provideSandbox()))

  it.effect("a form body is 400", () =>
    Effect.gen(function*() {
      const response = yield* form("/api/v1/user/create", { market: "SE" }, yield* clientToken())
      assert.strictEqual(response.status, 400)
    }).pipe(provideSandbox()))

  it.effect("needs a client token with user:create", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      assert.strictEqual((yield* postJson("/api/v1/user/create", { market: "SE" })).status, 401)
      const wrongScope = yield* postJson("/api/v1/user/create", { market: "SE" }, yield* clientToken("user:read"))
      assert.strictEqual(wrongScope.status, 403)
      const { userId } = yield* sandbox.createUser({})
      const userTokenWithScope = yield* sandbox.issueUserToken(userId, ["user:create"])
      assert.strictEqual((yield* postJson("/api/v1/user/create", { market: "SE" }, userTokenWithScope)).status, 403)
    }).pipe(provideSandbox()))
})

describe("user/delete", () => {
  it.effect("deletes the token's user and its credentials; every token of that user turns 401", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const userId = yield* createUser(yield* clientToken())
      yield* sandbox.addCredential(userId)
      const reader = yield* userToken(userId, "credentials:read")
      const deleter = yield* userToken(userId, "user:delete")
      assert.strictEqual((yield* send("GET", "/api/v1/credentials/list", reader)).status, 200)
      const deleted = yield* send("POST", "/api/v1/user/delete", deleter)
      assert.strictEqual(deleted.status, 204)
      assert.strictEqual(yield* deleted.text, "")
      assert.isFalse(yield* sandbox.userExists(userId))
      assert.strictEqual((yield* send("GET", "/api/v1/credentials/list", reader)).status, 401)
      assert.strictEqual((yield* send("POST", "/api/v1/user/delete", deleter)).status, 401)
    }).pipe(provideSandbox()))

  it.effect("ignores a body and only deletes the token's own user", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const a = yield* sandbox.createUser({})
      const b = yield* sandbox.createUser({})
      const token = yield* sandbox.issueUserToken(a.userId, ["user:delete"])
      const response = yield* postJson("/api/v1/user/delete", { user_id: b.userId }, token)
      assert.strictEqual(response.status, 204)
      assert.isFalse(yield* sandbox.userExists(a.userId))
      assert.isTrue(yield* sandbox.userExists(b.userId))
    }).pipe(provideSandbox()))

  it.effect("needs a user token with user:delete", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { userId } = yield* sandbox.createUser({})
      assert.strictEqual((yield* send("POST", "/api/v1/user/delete", yield* clientToken())).status, 403)
      const reader = yield* sandbox.issueUserToken(userId, ["credentials:read"])
      assert.strictEqual((yield* send("POST", "/api/v1/user/delete", reader)).status, 403)
      assert.isTrue(yield* sandbox.userExists(userId))
    }).pipe(provideSandbox()))
})

describe("routing", () => {
  it.effect("unknown routes are 404 and wrong methods 405, both with Tink's error body", () =>
    Effect.gen(function*() {
      const missing = yield* send("GET", "/api/v1/nothing")
      assert.strictEqual(missing.status, 404)
      const json = yield* body(missing)
      assert.strictEqual(json.errorCode, "NOT_FOUND")
      assert.isString(json.errorMessage)
      assert.deepStrictEqual(Object.keys(json).sort(), ["errorCode", "errorMessage"])
      assert.strictEqual((yield* send("GET", "/api/v1/oauth/token")).status, 405)
      assert.strictEqual((yield* send("DELETE", "/api/v1/credentials/list")).status, 405)
    }).pipe(provideSandbox()))

  it.effect("routes on the path only, whatever the host", () =>
    Effect.gen(function*() {
      const response = yield* HttpClient.execute(
        HttpClientRequest.post("https://api.tink.com/api/v1/oauth/token").pipe(
          HttpClientRequest.bodyUrlParams({ grant_type: "client_credentials" })
        )
      )
      assert.strictEqual(response.status, 400)
      assert.notStrictEqual(base, "https://api.tink.com")
    }).pipe(provideSandbox()))

  it.effect("every response gets a fresh X-Request-ID, as Tink's, and no X-Tink-Request-ID", () =>
    Effect.gen(function*() {
      const first = yield* send("GET", "/api/v1/nothing")
      const second = yield* send("GET", "/api/v1/nothing")
      assert.isString(first.headers["x-request-id"])
      assert.notStrictEqual(first.headers["x-request-id"], second.headers["x-request-id"])
      assert.isUndefined(first.headers["x-tink-request-id"])
    }).pipe(provideSandbox()))

  it.effect("X-Client-Trace-ID is echoed as sent (Tink's tracing header)", () =>
    Effect.gen(function*() {
      const response = yield* HttpClient.execute(
        HttpClientRequest.get(`${base}/api/v1/nothing`).pipe(HttpClientRequest.setHeader("x-client-trace-id", "t-1"))
      )
      assert.strictEqual(response.headers["x-client-trace-id"], "t-1")
    }).pipe(provideSandbox()))

  it.effect("legacyRequestId opts back into X-Tink-Request-ID and a requestId body field", () =>
    Effect.gen(function*() {
      const missing = yield* send("GET", "/api/v1/nothing")
      const json = yield* body(missing)
      assert.isString(json.requestId)
      assert.strictEqual(json.requestId, missing.headers["x-tink-request-id"])
      assert.strictEqual(json.requestId, missing.headers["x-request-id"])
    }).pipe(provideSandbox({ legacyRequestId: true })))
})
