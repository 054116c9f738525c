import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@tink-effect/sandbox"
import { Ids, Users } from "@tink-effect/users"
import { Duration, Effect, Redacted, TestClock } from "effect"
import { as, count, seedUser, testLayer, withClock } from "./utils.js"

const list = "/api/v1/credentials/list"

const faulted = (rules: ReadonlyArray<Sandbox.FaultRule>) => Effect.flatMap(Sandbox.Sandbox, (s) => s.setFaults(rules))

describe("Tink's failures land in the documented tagged errors", () => {
  it.effect("401: an unknown token is a TinkAuthenticationError with Tink's fields", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Users.asUser({ userId: Ids.UserId.make("nobody"), accessToken: Redacted.make("bogus") })(
          Users.listCredentials()
        )
      )
      assert.strictEqual(error._tag, "TinkAuthenticationError")
      assert.strictEqual(error.status, 401)
      assert.strictEqual(error.path, list)
      assert.isString(error.errorCode)
    }).pipe(Effect.provide(testLayer())))

  it.effect("the request id is Tink's documented X-Request-ID header, kept for support", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Users.asUser({ userId: Ids.UserId.make("nobody"), accessToken: Redacted.make("bogus") })(
          Users.listCredentials()
        )
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
      const error = yield* Effect.flip(as(user)(Users.getCredential(Ids.CredentialId.make("missing"))))
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

/** A fault on every attempt of a read, and what the caller gets: the case, its status, the attempts. */
const readFaults: ReadonlyArray<readonly [string, Sandbox.Fault, string, number | undefined, number]> = [
  ["500", { _tag: "Status", status: 500 }, "TinkApiError", 500, 3],
  ["503", { _tag: "Status", status: 503 }, "TinkApiError", 503, 3],
  ["an HTML 502 page", { _tag: "Html", status: 502 }, "TinkApiError", 502, 3],
  ["429 without Retry-After", { _tag: "Status", status: 429 }, "TinkRateLimitError", 429, 3],
  ["a dropped connection", { _tag: "Drop" }, "TinkNetworkError", undefined, 3],
  ["a slow answer", { _tag: "Latency", millis: 60_000 }, "TinkTimeoutError", undefined, 3],
  ["malformed JSON", { _tag: "MalformedJson" }, "TinkDecodeError", 200, 1],
  ["a wrong shape", { _tag: "WrongShape" }, "TinkDecodeError", 200, 1],
  ["400", { _tag: "Status", status: 400 }, "TinkValidationError", 400, 1],
  ["401", { _tag: "Status", status: 401 }, "TinkAuthenticationError", 401, 1],
  ["404", { _tag: "Status", status: 404 }, "TinkNotFoundError", 404, 1],
  ["409", { _tag: "Status", status: 409 }, "TinkApiError", 409, 1]
]

describe("a read that keeps failing: the documented case, retried only when Tink may answer next time", () => {
  it.effect.each(readFaults)("%s is a %s", ([_label, fault, tag, status, attempts]) =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      yield* faulted([{ path: list, fault }])
      const error = yield* withClock(Effect.flip(as(user)(Users.listCredentials())))
      assert.strictEqual(error._tag, tag)
      assert.strictEqual(error.status, status)
      assert.strictEqual(error.path, list)
      assert.strictEqual(yield* count("GET", list), attempts)
      if (error._tag === "TinkNetworkError") assert.isTrue(error.mayHaveReachedTink)
      if (fault._tag === "Html") assert.isUndefined(error.errorMessage, "an HTML page is not Tink's message")
      // Nothing was cached: once Tink answers, the answer is served.
      yield* faulted([])
      assert.strictEqual((yield* as(user)(Users.listCredentials())).length, 1)
      assert.strictEqual(yield* count("GET", list), attempts + 1)
    }).pipe(Effect.provide(testLayer())))

  it.effect("a fault that passes is retried away: the caller gets the answer", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      yield* faulted([{ path: list, times: 2, fault: { _tag: "Status", status: 503 } }])
      assert.strictEqual((yield* withClock(as(user)(Users.listCredentials()))).length, 1)
      assert.strictEqual(yield* count("GET", list), 3)
    }).pipe(Effect.provide(testLayer())))
})

const create = "/api/v1/user/create"

/**
 * One fault on a mutation: repeated only when Tink certainly did not process it, so a timeout or
 * a 5xx can never create a user twice.
 */
const mutationFaults: ReadonlyArray<readonly [string, Sandbox.Fault, string | undefined, number]> = [
  ["503 (Tink may have acted)", { _tag: "Status", status: 503 }, "TinkApiError", 1],
  ["a dropped connection", { _tag: "Drop" }, "TinkNetworkError", 1],
  ["a slow answer", { _tag: "Latency", millis: 60_000 }, "TinkTimeoutError", 1],
  ["429 (Tink did not process it)", { _tag: "Status", status: 429 }, undefined, 2]
]

describe("a mutation that fails once: retried only when it cannot have reached Tink", () => {
  it.effect.each(mutationFaults)("%s", ([_label, fault, tag, attempts]) =>
    Effect.gen(function*() {
      yield* faulted([{ path: create, times: 1, fault }])
      const outcome = yield* withClock(
        Users.createUser({ market: "SE" }).pipe(Effect.match({ onFailure: (e) => e._tag, onSuccess: () => undefined }))
      )
      assert.strictEqual(outcome, tag)
      assert.strictEqual(yield* count("POST", create), attempts)
    }).pipe(Effect.provide(testLayer())))
})
