import { HttpClientError } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Fiber, Option, TestClock } from "effect"
import { Sandbox } from "../src/index.js"
import { body, clientToken, postJson, provideSandbox, send } from "./utils.js"

const listPath = "/api/v1/credentials/list"

/** A user with one credential and a token that can do everything with it. */
const seeded = Effect.gen(function*() {
  const sandbox = yield* Sandbox.Sandbox
  const { userId } = yield* sandbox.createUser({})
  const credential = yield* sandbox.addCredential(userId)
  const token = yield* sandbox.issueUserToken(userId, ["credentials:read", "credentials:write", "user:delete"])
  return { sandbox, userId, credential, token }
})

describe("faults", () => {
  it.effect("Status 429 answers with Retry-After and Tink's error body", () =>
    Effect.gen(function*() {
      const { sandbox, token } = yield* seeded
      yield* sandbox.setFaults([{ path: listPath, fault: { _tag: "Status", status: 429, retryAfter: "2" } }])
      const response = yield* send("GET", listPath, token)
      assert.strictEqual(response.status, 429)
      assert.strictEqual(response.headers["retry-after"], "2")
      const json = yield* body(response)
      assert.strictEqual(json.errorCode, "TOO_MANY_REQUESTS")
      assert.deepStrictEqual(Object.keys(json).sort(), ["errorCode", "errorMessage"])
    }).pipe(provideSandbox()))

  it.effect("Status takes a custom code and message; 503 without Retry-After has no header", () =>
    Effect.gen(function*() {
      const { sandbox, token } = yield* seeded
      yield* sandbox.setFaults([{
        fault: { _tag: "Status", status: 503, errorCode: "MAINTENANCE", errorMessage: "Back soon" }
      }])
      const response = yield* send("GET", listPath, token)
      assert.strictEqual(response.status, 503)
      assert.isUndefined(response.headers["retry-after"])
      assert.deepInclude(yield* body(response), { errorCode: "MAINTENANCE", errorMessage: "Back soon" })
    }).pipe(provideSandbox()))

  it.effect("MalformedJson and WrongShape are 200s a client must not trust", () =>
    Effect.gen(function*() {
      const { sandbox, token } = yield* seeded
      yield* sandbox.setFaults([{ path: listPath, times: 1, fault: { _tag: "MalformedJson" } }])
      const malformed = yield* send("GET", listPath, token)
      assert.strictEqual(malformed.status, 200)
      assert.strictEqual(malformed.headers["content-type"], "application/json")
      assert.strictEqual(yield* malformed.text, "{\"credentials\": [")
      yield* sandbox.setFaults([{ path: listPath, times: 1, fault: { _tag: "WrongShape" } }])
      assert.deepStrictEqual(yield* body(yield* send("GET", listPath, token)), { credentials: 42 })
    }).pipe(provideSandbox()))

  it.effect("Html answers an HTML page with the status", () =>
    Effect.gen(function*() {
      const { sandbox, token } = yield* seeded
      yield* sandbox.setFaults([{ fault: { _tag: "Html", status: 502 } }])
      const response = yield* send("GET", listPath, token)
      assert.strictEqual(response.status, 502)
      assert.match(response.headers["content-type"]!, /^text\/html/)
      assert.match(yield* response.text, /<html>/)
    }).pipe(provideSandbox()))

  it.effect("LargeBody answers valid JSON of exactly that many bytes", () =>
    Effect.gen(function*() {
      const { sandbox, token } = yield* seeded
      yield* sandbox.setFaults([{ fault: { _tag: "LargeBody", bytes: 1_000_000 } }])
      const response = yield* send("GET", listPath, token)
      const text = yield* response.text
      assert.strictEqual(text.length, 1_000_000)
      assert.isString(JSON.parse(text).padding)
    }).pipe(provideSandbox()))

  it.effect("Drop surfaces in memory as a Transport RequestError", () =>
    Effect.gen(function*() {
      const { sandbox, token } = yield* seeded
      yield* sandbox.setFaults([{ method: "GET", fault: { _tag: "Drop" } }])
      const result = yield* Effect.either(send("GET", listPath, token))
      assert.isTrue(Either.isLeft(result))
      const error = (result as Either.Left<HttpClientError.HttpClientError, unknown>).left
      assert.strictEqual(error._tag, "RequestError")
      assert.strictEqual((error as HttpClientError.RequestError).reason, "Transport")
      assert.strictEqual(yield* sandbox.requestCount("GET", listPath), 1)
    }).pipe(provideSandbox()))

  it.effect("times: 1 is spent after one matching request", () =>
    Effect.gen(function*() {
      const { sandbox, token } = yield* seeded
      yield* sandbox.setFaults([{ method: "GET", path: listPath, times: 1, fault: { _tag: "Status", status: 500 } }])
      assert.strictEqual((yield* send("POST", listPath, token)).status, 405)
      assert.strictEqual((yield* send("GET", listPath, token)).status, 500)
      assert.strictEqual((yield* send("GET", listPath, token)).status, 200)
    }).pipe(provideSandbox()))

  it.effect("a RegExp path matches, and clearFaults removes every rule", () =>
    Effect.gen(function*() {
      const { credential, sandbox, token } = yield* seeded
      yield* sandbox.setFaults([{
        path: /^\/api\/v1\/credentials\/[0-9a-f]+$/g,
        fault: { _tag: "Status", status: 500 }
      }])
      assert.strictEqual((yield* send("GET", `/api/v1/credentials/${credential.id}`, token)).status, 500)
      assert.strictEqual((yield* send("GET", `/api/v1/credentials/${credential.id}`, token)).status, 500)
      assert.strictEqual((yield* send("GET", listPath, token)).status, 200)
      yield* sandbox.clearFaults
      assert.strictEqual((yield* send("GET", `/api/v1/credentials/${credential.id}`, token)).status, 200)
    }).pipe(provideSandbox()))

  it.effect("Latency waits on the caller's Clock, then serves normally", () =>
    Effect.gen(function*() {
      const { sandbox, token } = yield* seeded
      yield* sandbox.setFaults([{ path: listPath, fault: { _tag: "Latency", millis: 5000 } }])
      const fiber = yield* Effect.fork(send("GET", listPath, token))
      yield* TestClock.adjust("4999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      assert.strictEqual(yield* sandbox.requestCount("GET", listPath), 1)
      yield* TestClock.adjust("1 milli")
      const response = yield* Fiber.join(fiber)
      assert.strictEqual(response.status, 200)
      assert.lengthOf((yield* body(response)).credentials, 1)
    }).pipe(provideSandbox()))

  it.effect("Latency combines with a later fault rule; a timeout on the caller interrupts the wait", () =>
    Effect.gen(function*() {
      const { sandbox, token } = yield* seeded
      yield* sandbox.setFaults([
        { fault: { _tag: "Latency", millis: 1000 } },
        { fault: { _tag: "Status", status: 504 } }
      ])
      const timedOut = yield* Effect.fork(Effect.either(Effect.timeout(send("GET", listPath, token), "500 millis")))
      yield* TestClock.adjust("500 millis")
      assert.isTrue(Either.isLeft(yield* Fiber.join(timedOut)))
      const slow = yield* Effect.fork(send("GET", listPath, token))
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Fiber.join(slow)).status, 504)
    }).pipe(provideSandbox()))

  it.effect("faulted requests change no state", () =>
    Effect.gen(function*() {
      const { credential, sandbox, token, userId } = yield* seeded
      const createToken = yield* clientToken()
      yield* sandbox.setFaults([{ fault: { _tag: "Status", status: 500 } }])
      assert.strictEqual((yield* send("POST", "/api/v1/user/delete", token)).status, 500)
      assert.strictEqual((yield* send("DELETE", `/api/v1/credentials/${credential.id}`, token)).status, 500)
      yield* sandbox.setFaults([{ fault: { _tag: "Drop" } }])
      yield* Effect.either(postJson("/api/v1/user/create", { market: "SE", external_user_id: "x" }, createToken))
      yield* sandbox.clearFaults
      assert.isTrue(yield* sandbox.userExists(userId))
      assert.strictEqual((yield* send("GET", `/api/v1/credentials/${credential.id}`, token)).status, 200)
      const created = yield* postJson("/api/v1/user/create", { market: "SE", external_user_id: "x" }, createToken)
      assert.strictEqual(created.status, 200)
    }).pipe(provideSandbox()))
})

describe("counters", () => {
  it.effect("count every request per exact method and path, faulted ones included", () =>
    Effect.gen(function*() {
      const { credential, sandbox, token } = yield* seeded
      yield* sandbox.setFaults([{ times: 1, fault: { _tag: "Status", status: 503 } }])
      yield* send("GET", `${listPath}?x=1`, token)
      yield* send("GET", listPath, token)
      yield* send("GET", `/api/v1/credentials/${credential.id}`, token)
      yield* send("DELETE", `/api/v1/credentials/${credential.id}`, token)
      assert.strictEqual(yield* sandbox.requestCount("GET", listPath), 2)
      assert.strictEqual(yield* sandbox.requestCount("get", listPath), 2)
      assert.strictEqual(yield* sandbox.requestCount("GET", `/api/v1/credentials/${credential.id}`), 1)
      assert.strictEqual(yield* sandbox.requestCount("DELETE", `/api/v1/credentials/${credential.id}`), 1)
      assert.strictEqual(yield* sandbox.requestCount("POST", listPath), 0)
      assert.strictEqual(yield* sandbox.totalRequests, 4)
      yield* sandbox.resetCounters
      assert.strictEqual(yield* sandbox.totalRequests, 0)
      assert.strictEqual(yield* sandbox.requestCount("GET", listPath), 0)
      assert.lengthOf(yield* sandbox.requests, 0)
    }).pipe(provideSandbox()))

  it.effect("records requests with repeated query values, headers (token included) and body", () =>
    Effect.gen(function*() {
      const { credential, sandbox, token } = yield* seeded
      yield* send("POST", `/api/v1/credentials/${credential.id}/refresh?items=A&items=B`, token)
      const createToken = yield* clientToken()
      yield* postJson("/api/v1/user/create", { market: "SE" }, createToken)
      const [refresh, tokenCall, create] = yield* sandbox.requests
      assert.deepStrictEqual(refresh!.query, [["items", "A"], ["items", "B"]])
      assert.strictEqual(refresh!.headers["authorization"], `Bearer ${token}`)
      assert.strictEqual(tokenCall!.contentType, "application/x-www-form-urlencoded")
      assert.match(tokenCall!.body, /grant_type=client_credentials/)
      assert.strictEqual(create!.contentType, "application/json")
      assert.deepStrictEqual(JSON.parse(create!.body), { market: "SE" })
      assert.strictEqual(create!.headers["authorization"], `Bearer ${createToken}`)
    }).pipe(provideSandbox()))

  it.effect("maxRecordedRequests bounds the log but not the counters", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      for (let i = 0; i < 7; i++) yield* send("GET", `/api/v1/nothing/${i}`)
      const kept = yield* sandbox.requests
      assert.deepStrictEqual(kept.map((r) => r.path), ["/api/v1/nothing/4", "/api/v1/nothing/5", "/api/v1/nothing/6"])
      assert.strictEqual(yield* sandbox.totalRequests, 7)
    }).pipe(provideSandbox({ maxRecordedRequests: 3 })))
})
