/**
 * A transport that keeps the attempt's deadline itself (`NodeTinkHttpClient` does, under the
 * key in `Timeout.executeWithinKey`) is handed the request, the time limit and the timeout error
 * under the live clock, and the client adds no timer or fiber of its own; under the TestClock, or
 * for a transport without the key, the client times the attempt as before.
 */
import { HttpClient, HttpClientResponse } from "@effect/platform"
import type { HttpClientError, HttpClientRequest } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache, TinkClient, TinkError } from "@tink-effect/core"
import { Effect, Fiber, Layer, Option, Redacted, Schema, TestClock, Tracer } from "effect"
import { executeWithinKey } from "../src/internal/timeout.js"
import { secret } from "./utils/scripted.js"

interface Call {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly millis: number
  readonly error: unknown
}

/**
 * A transport whose `execute` never answers; its deadline-keeping `execute`, if `keeps`, records
 * what it is given and answers at once: `timeout` fails with the client's own timeout error.
 */
const transport = (keeps: boolean, answer: "ok" | "timeout") => {
  const calls: Array<Call> = []
  const plain = HttpClient.make(() => Effect.never)
  const within = <E>(
    request: HttpClientRequest.HttpClientRequest,
    millis: number,
    onTimeout: () => E
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError | E> => {
    const error = onTimeout()
    calls.push({ url: request.url, headers: request.headers, millis, error })
    return answer === "timeout" ? Effect.fail(error) : Effect.succeed(HttpClientResponse.fromWeb(
      request,
      new Response("{\"ok\":true}", { status: 200, headers: { "content-type": "application/json" } })
    ))
  }
  const client = keeps ? Object.assign(plain, { [executeWithinKey]: within }) : plain
  return { calls, layer: Layer.succeed(HttpClient.HttpClient, client) }
}

const clientOver = (http: Layer.Layer<HttpClient.HttpClient>, requestTimeout: string, tracePropagation = false) =>
  TinkClient.layer({
    clientId: "app",
    clientSecret: Redacted.make(secret),
    baseUrl: "http://tink.test",
    maxRetries: 0,
    tracePropagation,
    requestTimeout: requestTimeout as "1 second"
  }).pipe(Layer.provide(Layer.mergeAll(http, ResponseCache.layerMemory({ capacity: 10 }))), Layer.orDie)

const get = Effect.flatMap(
  TinkClient.TinkClient,
  (client) => client.get("/api/v1/thing", { operation: "test", auth: TinkClient.noAuth, schema: Schema.Unknown })
)

describe("a transport that keeps the attempt's deadline", () => {
  it.live("is given the request, the time limit and the timeout error under the live clock", () =>
    Effect.gen(function*() {
      const ok = transport(true, "ok")
      assert.deepStrictEqual(yield* Effect.provide(get, clientOver(ok.layer, "250 millis")), { ok: true })
      assert.strictEqual(ok.calls.length, 1)
      assert.strictEqual(ok.calls[0]!.url, "http://tink.test/api/v1/thing")
      assert.strictEqual(ok.calls[0]!.millis, 250)
      // The error it fails with at the deadline is the client's own.
      const made = ok.calls[0]!.error
      assert.isTrue(TinkError.isTinkError(made) && made._tag === "TinkTimeoutError")

      const late = transport(true, "timeout")
      const error = yield* Effect.flip(Effect.provide(get, clientOver(late.layer, "250 millis")))
      assert.strictEqual(error._tag, "TinkTimeoutError")
      assert.include(error.message, "/api/v1/thing")
      assert.strictEqual(late.calls.length, 1)
    }))

  it.live("is not used for a limit longer than a timer holds: the client times that attempt", () =>
    Effect.gen(function*() {
      const hanging = transport(true, "ok")
      const fiber = yield* Effect.fork(Effect.provide(get, clientOver(hanging.layer, "30 days")))
      yield* Effect.sleep("20 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      assert.strictEqual(hanging.calls.length, 0)
      yield* Fiber.interrupt(fiber)
    }))

  it.live("is sent the attempt's span as a traceparent header only when tracePropagation is on", () =>
    Effect.gen(function*() {
      // A tracer of our own (the native one's spans): the client records spans only then.
      const native = yield* Effect.tracer
      const tracer = Tracer.make({ span: (...args) => native.span(...args), context: (f) => f() })
      for (const propagate of [true, false]) {
        const ok = transport(true, "ok")
        yield* Effect.withTracer(Effect.provide(get, clientOver(ok.layer, "1 second", propagate)), tracer)
        assert.strictEqual(ok.calls.length, 1)
        const header = ok.calls[0]!.headers["traceparent"]
        if (propagate) assert.match(header ?? "", /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
        else assert.isUndefined(header)
      }
    }))

  it.effect("is not used under the TestClock: the client's own timeout follows the clock", () =>
    Effect.gen(function*() {
      const hanging = transport(true, "ok")
      const fiber = yield* Effect.fork(Effect.flip(Effect.provide(get, clientOver(hanging.layer, "1 second"))))
      yield* TestClock.adjust("999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* Fiber.join(fiber))._tag, "TinkTimeoutError")
      assert.strictEqual(hanging.calls.length, 0)
    }))

  it.live("a transport without the key is timed by the client, as before", () =>
    Effect.gen(function*() {
      const plain = transport(false, "ok")
      const error = yield* Effect.flip(Effect.provide(get, clientOver(plain.layer, "50 millis")))
      assert.strictEqual(error._tag, "TinkTimeoutError")
      assert.strictEqual(plain.calls.length, 0)
    }))
})
