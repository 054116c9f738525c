import { assert, describe, it } from "@effect/vitest"
import { type TinkClient, TinkClient as Client } from "@tink-effect/core"
import { Effect, Exit, Fiber, Option, Schema, TestClock } from "effect"
import { clientLayer, type Reply, scripted, withClock } from "./utils/scripted.js"

const path = "/api/v1/providers"
const ok: Reply = { status: 200, body: {} }

/** A GET (a read) or a POST (a mutation) to `path` without auth, so nothing but the retry policy is in play. */
const call = (method: "GET" | "POST") =>
  Effect.flatMap(Client.TinkClient, (client) =>
    method === "GET"
      ? client.get(path, { auth: Client.noAuth, schema: Schema.Unknown })
      : client.post(path, { auth: Client.noAuth }))

/** Runs `method` against a Tink that answers `first` (then 200 unless `persist`), and counts attempts. */
const attempts = (
  method: "GET" | "POST",
  first: Reply,
  options: Partial<TinkClient.Options> & { readonly persist?: boolean } = {}
) => {
  const tink = scripted((_, index) => index === 0 || options.persist === true ? first : ok)
  return withClock(Effect.exit(call(method))).pipe(
    Effect.provide(clientLayer(tink.client, { requestTimeout: "1 second", maxRetries: 2, ...options })),
    Effect.map((exit) => ({ exit, count: tink.sent.length, times: tink.sent.map((sent) => sent.at) }))
  )
}

describe("which failures are retried", () => {
  it.effect.each(
    [
      ["GET", { status: 408 }, 2],
      ["GET", { status: 429 }, 2],
      ["GET", { status: 500 }, 2],
      ["GET", { status: 503 }, 2],
      ["GET", "refused", 2],
      ["GET", "hang", 2],
      ["GET", { status: 400 }, 1],
      ["GET", { status: 404 }, 1],
      ["POST", { status: 429 }, 2],
      ["POST", "refused", 2],
      ["POST", { status: 408 }, 1],
      ["POST", { status: 500 }, 1],
      ["POST", { status: 503 }, 1],
      ["POST", "hang", 1]
    ] as const
  )("%s answered %j: %i attempt(s)", ([method, reply, expected]) =>
    Effect.gen(function*() {
      const { count } = yield* attempts(method, reply)
      assert.strictEqual(count, expected)
    }))

  it.effect("maxRetries bounds the retries of a failure that persists; 0 turns them off", () =>
    Effect.gen(function*() {
      for (const maxRetries of [0, 1, 4]) {
        const { count, exit } = yield* attempts("GET", { status: 503 }, { maxRetries, persist: true })
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual(count, maxRetries + 1)
      }
    }))
})

describe("how long a retry waits", () => {
  it.effect("the backoff doubles from retryBaseDelay with ±20 % jitter and is capped at maxRetryDelay", () =>
    Effect.gen(function*() {
      const { times } = yield* attempts("GET", { status: 503 }, {
        persist: true,
        maxRetries: 4,
        retryBaseDelay: "1 second",
        maxRetryDelay: "3 seconds"
      })
      // Jittered waits are fractional milliseconds: compare whole ones.
      const gaps = times.slice(1).map((at, i) => Math.round(at - times[i]))
      assert.lengthOf(gaps, 4)
      assert.isTrue(gaps[0] >= 800 && gaps[0] <= 1300, `first wait ${gaps[0]}`)
      assert.isTrue(gaps[1] >= 1600 && gaps[1] <= 2500, `second wait ${gaps[1]}`)
      assert.isTrue(gaps[2] >= 3000 && gaps[2] <= 3100, `third wait ${gaps[2]}, capped`)
      assert.isTrue(gaps[3] >= 3000 && gaps[3] <= 3100, `fourth wait ${gaps[3]}, capped`)
    }))

  it.effect("a Retry-After is waited out: no attempt before it, one as soon as it has passed", () => {
    const tink = scripted((_, index) => index === 0 ? { status: 429, headers: { "retry-after": "7" } } : ok)
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(call("GET"))
      yield* TestClock.adjust("6999 millis")
      assert.strictEqual(tink.sent.length, 1, "still waiting")
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(tink.sent.map((sent) => sent.at), [0, 7000])
    }).pipe(Effect.provide(clientLayer(tink.client, { retryBaseDelay: "100 millis" })))
  })

  it.effect("a Retry-After shorter than the backoff does not shorten it", () =>
    Effect.gen(function*() {
      const { times } = yield* attempts("GET", { status: 429, headers: { "retry-after": "1" } }, {
        retryBaseDelay: "5 seconds"
      })
      assert.isAtLeast(times[1] - times[0], 4000)
    }))

  it.effect("a Retry-After longer than maxRetryDelay fails at once, in seconds or as an HTTP date", () =>
    Effect.gen(function*() {
      for (const retryAfter of ["6", new Date(60_000).toUTCString()]) {
        const { count, exit } = yield* attempts("GET", { status: 429, headers: { "retry-after": retryAfter } }, {
          maxRetryDelay: "5 seconds"
        })
        assert.strictEqual(count, 1)
        assert.isTrue(
          Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error._tag === "TinkRateLimitError"
        )
      }
    }))
})

describe("TinkClient.withRequestOptions: per-call limits over the layer's", () => {
  it.effect("maxRetries 0 makes one attempt against a failing Tink while the layer says 3; outside, 4", () => {
    const tink = scripted(() => ({ status: 503 }))
    return Effect.gen(function*() {
      const once = yield* withClock(Effect.exit(call("GET").pipe(Client.withRequestOptions({ maxRetries: 0 }))))
      assert.isTrue(Exit.isFailure(once))
      assert.strictEqual(tink.sent.length, 1)
      yield* withClock(Effect.exit(call("GET")))
      assert.strictEqual(tink.sent.length, 1 + 4, "the layer's 3 retries apply again outside the combinator")
    }).pipe(Effect.provide(clientLayer(tink.client, { maxRetries: 3 })))
  })

  it.effect("maxRetries above the layer's gives more retries", () => {
    const tink = scripted(() => ({ status: 503 }))
    return withClock(Effect.exit(Client.withRequestOptions(call("GET"), { maxRetries: 5 }))).pipe(
      Effect.map(() => assert.strictEqual(tink.sent.length, 6)),
      Effect.provide(clientLayer(tink.client, { maxRetries: 1 }))
    )
  })

  it.effect("requestTimeout bounds each attempt instead of the layer's", () => {
    const tink = scripted(() => "hang")
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        call("GET").pipe(Client.withRequestOptions({ requestTimeout: "5 seconds", maxRetries: 0 }))
      )
      yield* TestClock.adjust("4999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "the layer's 1 second does not apply")
      yield* TestClock.adjust("1 millis")
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(error._tag, "TinkTimeoutError")
      assert.strictEqual(tink.sent.length, 1)
    }).pipe(Effect.provide(clientLayer(tink.client, { requestTimeout: "1 second", maxRetries: 3 })))
  })

  it.effect("nested calls combine, the inner one winning per field", () => {
    const tink = scripted(() => "hang")
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        call("GET").pipe(
          Client.withRequestOptions({ maxRetries: 1 }),
          Client.withRequestOptions({ maxRetries: 0, requestTimeout: "3 seconds" })
        )
      )
      // Two attempts of 3 seconds (the outer timeout, the inner retry count), with a backoff between.
      yield* TestClock.adjust("2999 millis")
      assert.strictEqual(tink.sent.length, 1)
      yield* TestClock.adjust("1 millis")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(tink.sent.length, 2)
      yield* TestClock.adjust("3 seconds")
      assert.strictEqual((yield* Effect.flip(Fiber.join(fiber)))._tag, "TinkTimeoutError")
      assert.strictEqual(tink.sent.length, 2)
    }).pipe(Effect.provide(clientLayer(tink.client, { requestTimeout: "1 second", maxRetries: 3 })))
  })

  it.effect("app-token requests made for the effect follow its limits too", () => {
    const tink = scripted((sent) => sent.path === "/api/v1/oauth/token" ? { status: 503 } : ok)
    return Effect.gen(function*() {
      const client = yield* Client.TinkClient
      const read = client.get(path, { auth: Client.appAuth("providers:read"), schema: Schema.Unknown })
      const error = yield* Effect.flip(withClock(Client.withRequestOptions(read, { maxRetries: 0 })))
      assert.strictEqual(error._tag, "TinkApiError")
      assert.strictEqual(tink.to("/api/v1/oauth/token").length, 1)
    }).pipe(Effect.provide(clientLayer(tink.client, { maxRetries: 3 })))
  })

  it.effect.each(
    [
      [{ maxRetries: -1 }, "maxRetries"],
      [{ maxRetries: 1.5 }, "maxRetries"],
      [{ requestTimeout: 0 }, "requestTimeout"],
      [{ requestTimeout: "whenever" }, "requestTimeout"]
    ] as const
  )("a bad value (%j) is a TinkValidationError naming %s, and nothing is sent", ([options, field]) => {
    const tink = scripted(() => ok)
    return Effect.gen(function*() {
      const error = yield* Effect.flip(
        Client.withRequestOptions(call("GET"), options as TinkClient.CallOptions)
      )
      assert.strictEqual(error._tag, "TinkValidationError")
      assert.include(error.message, field)
      assert.notInclude(error.message, "whenever")
      assert.strictEqual(tink.sent.length, 0)
    }).pipe(Effect.provide(clientLayer(tink.client)))
  })
})
