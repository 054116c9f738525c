import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@tink-effect/sandbox"
import { Users } from "@tink-effect/users"
import { Duration, Effect, Redacted, TestClock } from "effect"
import { as, count, seedUser, testLayer, withClock } from "./utils.js"

const list = "/api/v1/credentials/list"

const faulted = (rules: ReadonlyArray<Sandbox.FaultRule>) => Effect.flatMap(Sandbox.Sandbox, (s) => s.setFaults(rules))

describe("Tink's failures land in the documented tagged errors", () => {
  it.effect("401: an unknown token is a TinkAuthenticationError with Tink's fields", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Users.asUser({ userId: "nobody", accessToken: Redacted.make("bogus") })(Users.listCredentials())
      )
      assert.strictEqual(error._tag, "TinkAuthenticationError")
      assert.strictEqual(error.status, 401)
      assert.strictEqual(error.path, list)
      assert.isString(error.errorCode)
    }).pipe(Effect.provide(testLayer())))

  it.effect("the request id is Tink's documented X-Request-ID header, kept for support", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Users.asUser({ userId: "nobody", accessToken: Redacted.make("bogus") })(Users.listCredentials())
      )
      assert.isString(error.requestId)
      assert.include(error.message, `request id ${error.requestId}`)
    }).pipe(Effect.provide(testLayer())))

  it.effect("403: a token without the scope is a TinkAuthenticationError", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(1)
      const readOnly = Redacted.make(yield* sandbox.issueUserToken(user.userId, ["credentials:read"]))
      const error = yield* Effect.flip(
        as({ userId: user.userId, token: readOnly })(
          Users.deleteCredential(user.credentials[0].id)
        )
      )
      assert.strictEqual(error._tag, "TinkAuthenticationError")
      assert.strictEqual(error.status, 403)
    }).pipe(Effect.provide(testLayer())))

  it.effect("404: TinkNotFoundError", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(0)
      const error = yield* Effect.flip(as(user)(Users.getCredential("missing")))
      assert.strictEqual(error._tag, "TinkNotFoundError")
      assert.strictEqual(error.status, 404)
    }).pipe(Effect.provide(testLayer())))

  it.effect("409: a duplicate external user id and a refresh already running are TinkApiErrors", () =>
    Effect.gen(function*() {
      yield* Users.createUser({ market: "SE", externalUserId: "dup" })
      const duplicate = yield* Effect.flip(Users.createUser({ market: "SE", externalUserId: "dup" }))
      assert.strictEqual(duplicate._tag, "TinkApiError")
      assert.strictEqual(duplicate.status, 409)
      const user = yield* seedUser(1)
      yield* as(user)(Users.refreshCredential(user.credentials[0].id))
      const running = yield* Effect.flip(as(user)(Users.refreshCredential(user.credentials[0].id)))
      assert.strictEqual(running._tag, "TinkApiError")
      assert.strictEqual(running.status, 409)
    }).pipe(Effect.provide(testLayer())))

  it.effect("400 from Tink is a TinkValidationError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Users.getUserAccessToken("never-issued"))
      assert.strictEqual(error._tag, "TinkValidationError")
      assert.strictEqual(error.status, 400)
    }).pipe(Effect.provide(testLayer())))

  it.effect("429 with Retry-After is retried after the wait Tink asked for", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      yield* faulted([{ path: list, times: 1, fault: { _tag: "Status", status: 429, retryAfter: "7" } }])
      const result = yield* withClock(as(user)(Users.listCredentials()))
      assert.strictEqual(result.length, 1)
      assert.strictEqual(yield* count("GET", list), 2)
    }).pipe(Effect.provide(testLayer())))

  it.effect("429 that persists is a TinkRateLimitError carrying retryAfter; without it, backoff and no retryAfter", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      yield* faulted([{ path: list, fault: { _tag: "Status", status: 429, retryAfter: "3" } }])
      const withHeader = yield* withClock(Effect.flip(as(user)(Users.listCredentials())))
      assert.strictEqual(withHeader._tag, "TinkRateLimitError")
      if (withHeader._tag === "TinkRateLimitError") {
        assert.strictEqual(Duration.toSeconds(withHeader.retryAfter!), 3)
      }
      assert.strictEqual(yield* count("GET", list), 3, "first attempt and maxRetries = 2")
      yield* faulted([{ path: list, fault: { _tag: "Status", status: 429 } }])
      const without = yield* withClock(Effect.flip(as(user)(Users.listCredentials())))
      assert.strictEqual(without._tag, "TinkRateLimitError")
      if (without._tag === "TinkRateLimitError") assert.isUndefined(without.retryAfter)
    }).pipe(Effect.provide(testLayer())))

  it.effect("a Retry-After longer than the longest allowed wait fails at once", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      yield* faulted([{ path: list, fault: { _tag: "Status", status: 429, retryAfter: "3600" } }])
      const error = yield* Effect.flip(as(user)(Users.listCredentials()))
      assert.strictEqual(error._tag, "TinkRateLimitError")
      assert.strictEqual(yield* count("GET", list), 1)
    }).pipe(Effect.provide(testLayer())))

  it.effect("5xx on a read is retried, then a TinkApiError; a later success is served", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      yield* faulted([{ path: list, times: 2, fault: { _tag: "Status", status: 503 } }])
      assert.strictEqual((yield* withClock(as(user)(Users.listCredentials()))).length, 1)
      assert.strictEqual(yield* count("GET", list), 3)
      yield* faulted([{ path: /credentials\//, fault: { _tag: "Status", status: 500 } }])
      const error = yield* withClock(Effect.flip(as(user)(Users.getCredential(user.credentials[0].id))))
      assert.strictEqual(error._tag, "TinkApiError")
      assert.strictEqual(error.status, 500)
    }).pipe(Effect.provide(testLayer())))

  it.effect("a mutation is not retried on 5xx: creating a user twice must not happen", () =>
    Effect.gen(function*() {
      yield* faulted([{ path: "/api/v1/user/create", times: 1, fault: { _tag: "Status", status: 503 } }])
      const error = yield* withClock(Effect.flip(Users.createUser({ market: "SE" })))
      assert.strictEqual(error._tag, "TinkApiError")
      assert.strictEqual(yield* count("POST", "/api/v1/user/create"), 1)
    }).pipe(Effect.provide(testLayer())))

  it.effect("a mutation is retried on 429, which Tink did not process", () =>
    Effect.gen(function*() {
      yield* faulted([{ path: "/api/v1/user/create", times: 1, fault: { _tag: "Status", status: 429 } }])
      yield* withClock(Users.createUser({ market: "SE" }))
      assert.strictEqual(yield* count("POST", "/api/v1/user/create"), 2)
    }).pipe(Effect.provide(testLayer())))

  it.effect("malformed JSON and a wrong shape are TinkDecodeErrors, and nothing is cached", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      yield* faulted([{ path: list, times: 1, fault: { _tag: "MalformedJson" } }])
      const malformed = yield* Effect.flip(as(user)(Users.listCredentials()))
      assert.strictEqual(malformed._tag, "TinkDecodeError")
      yield* faulted([{ path: list, times: 1, fault: { _tag: "WrongShape" } }])
      const wrongShape = yield* Effect.flip(as(user)(Users.listCredentials()))
      assert.strictEqual(wrongShape._tag, "TinkDecodeError")
      assert.strictEqual((yield* as(user)(Users.listCredentials())).length, 1)
      assert.strictEqual(yield* count("GET", list), 3)
    }).pipe(Effect.provide(testLayer())))

  it.effect("an HTML error page is a TinkApiError with its status", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      yield* faulted([{ path: list, fault: { _tag: "Html", status: 502 } }])
      const error = yield* withClock(Effect.flip(as(user)(Users.listCredentials())))
      assert.strictEqual(error._tag, "TinkApiError")
      assert.strictEqual(error.status, 502)
      assert.isUndefined(error.errorMessage)
    }).pipe(Effect.provide(testLayer())))

  it.effect("a dropped connection is a TinkNetworkError that may have reached Tink", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      yield* faulted([{ path: list, fault: { _tag: "Drop" } }])
      const error = yield* withClock(Effect.flip(as(user)(Users.listCredentials())))
      assert.strictEqual(error._tag, "TinkNetworkError")
      if (error._tag === "TinkNetworkError") assert.isTrue(error.mayHaveReachedTink)
      assert.strictEqual(yield* count("GET", list), 3)
    }).pipe(Effect.provide(testLayer())))

  it.effect("a slow answer is a TinkTimeoutError after the per-attempt timeout", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      yield* faulted([{ path: list, fault: { _tag: "Latency", millis: 60_000 } }])
      const error = yield* withClock(Effect.flip(as(user)(Users.listCredentials())))
      assert.strictEqual(error._tag, "TinkTimeoutError")
      assert.strictEqual(yield* count("GET", list), 3)
    }).pipe(Effect.provide(testLayer())))

  it.effect("an expired app token is refreshed once on 401", () =>
    Effect.gen(function*() {
      yield* Users.createUser({ market: "SE" })
      // Tink answers 401 to a revoked app token: the client fetches a new one and repeats once.
      yield* faulted([{ path: "/api/v1/user/create", times: 1, fault: { _tag: "Status", status: 401 } }])
      yield* Users.createUser({ market: "SE" })
      assert.strictEqual(yield* count("POST", "/api/v1/oauth/token"), 2)
      assert.strictEqual(yield* count("POST", "/api/v1/user/create"), 3)
      // A token is renewed before Tink's expiry (1800 s), never used past it.
      yield* TestClock.adjust("1750 seconds")
      yield* Users.createUser({ market: "SE" })
      assert.strictEqual(yield* count("POST", "/api/v1/oauth/token"), 3)
    }).pipe(Effect.provide(testLayer())))

  it.effect("a wrong client secret is a TinkAuthenticationError from the token endpoint", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Users.createUser({ market: "SE" }))
      assert.strictEqual(error._tag, "TinkAuthenticationError")
      assert.strictEqual(error.path, "/api/v1/oauth/token")
    }).pipe(Effect.provide(testLayer({ clientSecret: "wrong-secret" }))))
})
