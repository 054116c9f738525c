import { HttpClientError } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Fiber, Option, Random, TestClock } from "effect"
import { Sandbox } from "../src/index.js"
import { body, clientToken, postJson, provideSandbox, send } from "./utils.js"

const listPath = "/api/v1/credentials/list"

const seeded = Effect.gen(function*() {
  const sandbox = yield* Sandbox.Sandbox
  const { userId } = yield* sandbox.createUser({})
  const credential = yield* sandbox.addCredential(userId)
  const token = yield* sandbox.issueUserToken(userId, ["credentials:read", "credentials:write"])
  return { sandbox, userId, credential, token }
})

const transportError = (result: Either.Either<unknown, unknown>) => {
  assert.isTrue(Either.isLeft(result))
  const error = (result as Either.Left<unknown, unknown>).left as HttpClientError.HttpClientError
  return error
}

describe("faults for reliability tests", () => {
  it.effect("Latency with maxMillis waits a random time in the range, on the caller's Clock", () =>
    Effect.gen(function*() {
      const { sandbox, token } = yield* seeded
      yield* sandbox.setFaults([{ path: listPath, fault: { _tag: "Latency", millis: 100, maxMillis: 200 } }])
      for (let i = 0; i < 20; i++) {
        const fiber = yield* Effect.fork(send("GET", listPath, token))
        yield* TestClock.adjust("99 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "never shorter than millis")
        yield* TestClock.adjust("101 millis")
        assert.strictEqual((yield* Fiber.join(fiber)).status, 200, "never longer than maxMillis")
      }
      assert.strictEqual((yield* sandbox.faultsInjected)["Latency"], 20)
    }).pipe(provideSandbox()))

  it.effect("Latency with finishWhenAbandoned processes the request although its caller gave up", () =>
    Effect.gen(function*() {
      const { credential, sandbox, token, userId } = yield* seeded
      yield* sandbox.setFaults([{
        method: "DELETE",
        fault: { _tag: "Latency", millis: 1000, finishWhenAbandoned: true }
      }])
      const gaveUp = yield* Effect.fork(
        Effect.either(Effect.timeout(send("DELETE", `/api/v1/credentials/${credential.id}`, token), "100 millis"))
      )
      yield* TestClock.adjust("1 second")
      assert.isTrue(Either.isLeft(yield* Fiber.join(gaveUp)), "the caller timed out")
      assert.lengthOf(yield* sandbox.credentials(userId), 0, "the delete happened anyway")

      yield* sandbox.setFaults([{ method: "GET", fault: { _tag: "Latency", millis: 1000 } }])
      const abandoned = yield* Effect.fork(Effect.either(Effect.timeout(send("GET", listPath, token), "100 millis")))
      yield* TestClock.adjust("100 millis")
      assert.isTrue(Either.isLeft(yield* Fiber.join(abandoned)), "without it, the wait is interrupted at once")
    }).pipe(provideSandbox()))

  it.effect("a seeded Random replays the same random latencies", () =>
    Effect.gen(function*() {
      const { sandbox, token } = yield* seeded
      yield* sandbox.setFaults([{ path: listPath, fault: { _tag: "Latency", millis: 0, maxMillis: 1000 } }])
      // The in-memory request reads its body through real promises: let them settle, then the
      // pending sleep of the sandbox says how long it chose to wait.
      const settle = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
      const durations = (seed: number) =>
        Effect.forEach(Array.from({ length: 5 }), () =>
          Effect.gen(function*() {
            const start = yield* TestClock.currentTimeMillis
            const fiber = yield* Effect.fork(send("GET", listPath, token))
            yield* settle
            const wakeUps = yield* TestClock.sleeps()
            yield* TestClock.adjust("1 second")
            assert.strictEqual((yield* Fiber.join(fiber)).status, 200)
            return Chunk.toReadonlyArray(wakeUps).map((at) => at - start)
          })).pipe(Effect.withRandom(Random.make(seed)))
      const first = yield* durations(42)
      assert.deepStrictEqual(yield* durations(42), first)
      assert.notDeepEqual(yield* durations(43), first)
    }).pipe(provideSandbox()))

  it.effect("probability hits some requests only, and spared ones do not spend times", () =>
    Effect.gen(function*() {
      const { sandbox, token } = yield* seeded
      yield* sandbox.setFaults([{ path: listPath, probability: 0.5, fault: { _tag: "Status", status: 503 } }])
      let faulted = 0
      for (let i = 0; i < 200; i++) {
        if ((yield* send("GET", listPath, token)).status === 503) faulted++
      }
      assert.isTrue(faulted > 60 && faulted < 140, `about half faulted: ${faulted}`)
      assert.strictEqual((yield* sandbox.faultsInjected)["Status 503"], faulted)

      yield* sandbox.setFaults([{ path: listPath, probability: 0, times: 1, fault: { _tag: "Status", status: 500 } }])
      for (let i = 0; i < 20; i++) assert.strictEqual((yield* send("GET", listPath, token)).status, 200)
      yield* sandbox.setFaults([{ path: listPath, probability: 1, times: 1, fault: { _tag: "Status", status: 500 } }])
      assert.strictEqual((yield* send("GET", listPath, token)).status, 500)
      assert.strictEqual((yield* send("GET", listPath, token)).status, 200, "spent by the one it hit")
    }).pipe(provideSandbox()))

  it.effect("Body answers any raw text with the given status, type and headers", () =>
    Effect.gen(function*() {
      const { sandbox, token } = yield* seeded
      yield* sandbox.setFaults([{
        path: listPath,
        fault: { _tag: "Body", body: "{\"credentials\":[1e999]}", status: 201, headers: { "retry-after": "x" } }
      }])
      const response = yield* send("GET", listPath, token)
      assert.strictEqual(response.status, 201)
      assert.strictEqual(response.headers["content-type"], "application/json")
      assert.strictEqual(response.headers["retry-after"], "x")
      assert.strictEqual(yield* response.text, "{\"credentials\":[1e999]}")
    }).pipe(provideSandbox()))

  it.effect("Truncated runs the endpoint, then its body stops short of the declared length", () =>
    Effect.gen(function*() {
      const { credential, sandbox, token, userId } = yield* seeded
      yield* sandbox.setFaults([{ path: listPath, fault: { _tag: "Truncated" } }])
      const response = yield* send("GET", listPath, token)
      assert.strictEqual(response.status, 200)
      const full = JSON.stringify({ credentials: yield* sandbox.credentials(userId) })
      assert.strictEqual(response.headers["content-length"], String(full.length))
      const error = transportError(yield* Effect.either(response.text))
      assert.strictEqual(error._tag, "ResponseError")

      yield* sandbox.setFaults([{ method: "DELETE", fault: { _tag: "Truncated" } }])
      const deleted = yield* Effect.either(send("DELETE", `/api/v1/credentials/${credential.id}`, token))
      assert.strictEqual(transportError(deleted)._tag, "RequestError", "a 204 has no body: the answer is lost")
      assert.lengthOf(yield* sandbox.credentials(userId), 0, "the delete happened")
      assert.strictEqual((yield* sandbox.faultsInjected)["Truncated"], 2)
    }).pipe(provideSandbox()))

  it.effect("Drop after processing changes the state, then the client sees a transport error", () =>
    Effect.gen(function*() {
      const { credential, sandbox, token, userId } = yield* seeded
      yield* sandbox.setFaults([{ method: "DELETE", fault: { _tag: "Drop", afterProcessing: true } }])
      const error = transportError(yield* Effect.either(send("DELETE", `/api/v1/credentials/${credential.id}`, token)))
      assert.strictEqual(error._tag, "RequestError")
      assert.lengthOf(yield* sandbox.credentials(userId), 0)
      assert.strictEqual((yield* sandbox.faultsInjected)["Drop after processing"], 1)
    }).pipe(provideSandbox()))

  it.effect("usersCreated counts users the API created, whether or not the answer reached the client", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.createUser({})
      const token = yield* clientToken()
      assert.strictEqual((yield* postJson("/api/v1/user/create", { market: "SE" }, token)).status, 200)
      yield* sandbox.setFaults([{ fault: { _tag: "Status", status: 503 } }])
      yield* postJson("/api/v1/user/create", { market: "SE" }, token)
      yield* sandbox.setFaults([{ fault: { _tag: "Drop" } }])
      yield* Effect.either(postJson("/api/v1/user/create", { market: "SE" }, token))
      assert.strictEqual(yield* sandbox.usersCreated, 1, "seeded, 503 and Drop create nothing")
      yield* sandbox.setFaults([{ fault: { _tag: "Drop", afterProcessing: true } }])
      yield* Effect.either(postJson("/api/v1/user/create", { market: "SE" }, token))
      yield* sandbox.setFaults([{ fault: { _tag: "Truncated" } }])
      const truncated = yield* postJson("/api/v1/user/create", { market: "SE" }, token)
      assert.isTrue(Either.isLeft(yield* Effect.either(truncated.text)))
      yield* sandbox.clearFaults
      yield* postJson("/api/v1/user/create", { market: "SE" }, token).pipe(Effect.flatMap(body))
      assert.strictEqual(yield* sandbox.usersCreated, 4)
      assert.deepStrictEqual(yield* sandbox.faultsInjected, {
        "Status 503": 1,
        Drop: 1,
        "Drop after processing": 1,
        Truncated: 1
      })
      yield* sandbox.resetCounters
      assert.strictEqual(yield* sandbox.usersCreated, 0)
      assert.deepStrictEqual(yield* sandbox.faultsInjected, {})
    }).pipe(provideSandbox()))

  it.effect("credentials shows a user's credentials as the API lists them, status moving with the Clock", () =>
    Effect.gen(function*() {
      const { credential, sandbox, userId } = yield* seeded
      yield* sandbox.resetCounters
      assert.deepStrictEqual(yield* sandbox.credentials(userId), [credential])
      const token = yield* sandbox.issueUserToken(userId, ["credentials:refresh"])
      yield* send("POST", `/api/v1/credentials/${credential.id}/refresh`, token)
      assert.strictEqual((yield* sandbox.credentials(userId))[0]!.status, "AUTHENTICATING")
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual((yield* sandbox.credentials(userId))[0]!.status, "UPDATED")
      assert.deepStrictEqual(yield* sandbox.credentials("nobody"), [])
      assert.strictEqual(yield* sandbox.totalRequests, 1, "inspection is not a request")
    }).pipe(provideSandbox()))
})
