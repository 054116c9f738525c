/**
 * The lean transport keeps the Tink client's per-attempt deadline itself (one timer on the
 * request, no fiber beside it): over a real server that never answers, the attempt fails with
 * `TinkTimeoutError` at the deadline and the request is aborted; under the TestClock the client
 * times the attempt as before; a wrapped transport is timed by the client too.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache, TinkClient } from "@tink-effect/core"
import { NodeTinkHttpClient } from "@tink-effect/platform-node"
import { Deferred, Effect, Exit, Fiber, Layer, Option, Redacted, Schema, TestClock } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

/** Answers `/fast` at once, never answers anything else; tells when a request arrives and when its socket closes. */
const slowServer = Effect.acquireRelease(
  Effect.async<{
    readonly url: string
    readonly arrived: () => number
    readonly nextArrival: () => Deferred.Deferred<void>
    readonly nextClose: () => Deferred.Deferred<void>
    readonly close: () => Promise<void>
  }>((resume) => {
    let arrived = 0
    let arrival = Deferred.unsafeMake<void>(undefined as never)
    let closed = Deferred.unsafeMake<void>(undefined as never)
    const server = createServer((request, response) => {
      arrived++
      Deferred.unsafeDone(arrival, Exit.void)
      if (request.url?.startsWith("/api/v1/fast") === true) {
        response.writeHead(200, { "content-type": "application/json" })
        response.end("{\"ok\":true}")
        return
      }
      request.socket.on("close", () => Deferred.unsafeDone(closed, Exit.void))
    })
    server.keepAliveTimeout = 60_000
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        arrived: () => arrived,
        nextArrival: () => arrival = Deferred.unsafeMake<void>(undefined as never),
        nextClose: () => closed = Deferred.unsafeMake<void>(undefined as never),
        close: () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections()
            server.close(() => resolve())
          })
      })))
  }),
  (server) => Effect.promise(server.close)
)

const clientOver = (baseUrl: string, requestTimeout: string, http: Layer.Layer<HttpClient.HttpClient>) =>
  TinkClient.layer({
    clientId: "app",
    clientSecret: Redacted.make("deadline-test-secret"),
    baseUrl,
    maxRetries: 0,
    requestTimeout: requestTimeout as "1 second"
  }).pipe(Layer.provide(Layer.mergeAll(http, ResponseCache.layerMemory({ capacity: 10 }))), Layer.orDie)

/** The lean transport behind `HttpClient.mapRequest`: a client without the transport's deadline. */
const wrapped = Layer.scoped(
  HttpClient.HttpClient,
  Effect.map(NodeTinkHttpClient.make(), HttpClient.mapRequest((request) => request))
)

const get = (path: string) =>
  Effect.flatMap(
    TinkClient.TinkClient,
    (client) => client.get(path, { operation: "test", auth: TinkClient.noAuth, schema: Schema.Unknown })
  )

const withinKey = Symbol.for("@tink-effect/core/HttpClient/executeWithin")

describe("the attempt's deadline over NodeTinkHttpClient", () => {
  it.live("a slow answer fails with TinkTimeoutError at the deadline and the request is aborted", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* slowServer
      for (const [name, http] of [["lean", NodeTinkHttpClient.layer], ["wrapped", wrapped]] as const) {
        const layer = clientOver(server.url, "100 millis", http)
        assert.deepStrictEqual(yield* Effect.provide(get("/api/v1/fast"), layer), { ok: true }, name)
        const closed = server.nextClose()
        const startedAt = Date.now()
        const error = yield* Effect.flip(Effect.provide(get("/api/v1/slow"), layer))
        const elapsed = Date.now() - startedAt
        assert.strictEqual(error._tag, "TinkTimeoutError", name)
        assert.include(error.message, "/api/v1/slow", name)
        assert.isAtLeast(elapsed, 95, name)
        assert.isBelow(elapsed, 5_000, name)
        yield* Deferred.await(closed)
      }
      assert.strictEqual(server.arrived(), 4)
    })))

  it.live("interrupting the caller before the deadline aborts the request", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* slowServer
      const arrival = server.nextArrival()
      const closed = server.nextClose()
      const fiber = yield* Effect.fork(
        Effect.provide(get("/api/v1/slow"), clientOver(server.url, "10 seconds", NodeTinkHttpClient.layer))
      )
      yield* Deferred.await(arrival)
      yield* Fiber.interrupt(fiber)
      yield* Deferred.await(closed)
    })))

  it.effect("under the TestClock the client times the attempt: the clock, not a timer, ends it", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* slowServer
      const arrival = server.nextArrival()
      const closed = server.nextClose()
      // An hour: were the transport's timer used, the attempt would not end in this test.
      const fiber = yield* Effect.fork(
        Effect.flip(Effect.provide(get("/api/v1/slow"), clientOver(server.url, "1 hour", NodeTinkHttpClient.layer)))
      )
      yield* Deferred.await(arrival)
      yield* TestClock.adjust("59 minutes")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* Fiber.join(fiber))._tag, "TinkTimeoutError")
      yield* Deferred.await(closed)
    })))

  it.scoped("the bare client's deadline: an answer in time is returned, a late one aborted with the caller's error", () =>
    Effect.gen(function*() {
      const server = yield* slowServer
      const http = yield* NodeTinkHttpClient.make()
      const within = (http as unknown as Record<symbol, unknown>)[withinKey] as <E>(
        request: HttpClientRequest.HttpClientRequest,
        millis: number,
        onTimeout: () => E
      ) => Effect.Effect<{ readonly text: Effect.Effect<string, unknown> }, unknown>
      assert.strictEqual(typeof within, "function")
      const fast = yield* within(HttpClientRequest.get(`${server.url}/api/v1/fast`), 1_000, () => "late")
      assert.strictEqual(yield* fast.text, "{\"ok\":true}")
      const closed = server.nextClose()
      const late = yield* Effect.flip(within(HttpClientRequest.get(`${server.url}/api/v1/slow`), 30, () => "late"))
      assert.strictEqual(late, "late")
      yield* Deferred.await(closed)
      // The pool goes on: the next request is answered.
      const again = yield* within(HttpClientRequest.get(`${server.url}/api/v1/fast`), 1_000, () => "late")
      assert.strictEqual(yield* again.text, "{\"ok\":true}")
    }).pipe(Effect.timeout("5 seconds")))
})
