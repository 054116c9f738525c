import { assert, describe, it } from "@effect/vitest"
import { type TinkClient, TinkClient as Client } from "@tink-effect/core"
import { Effect, Exit, Fiber, Schema, TestClock } from "effect"
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
