/**
 * The per-attempt timeout (issue 12.3). Under the live clock it is a timer beside the attempt
 * (no racing fibers), over a real slow server here; under the TestClock it is
 * `Effect.timeoutFail`, which the retry tests drive. Both fail with the same `TinkTimeoutError`
 * and stop the attempt.
 */
import { FetchHttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache, TinkClient } from "@tink-effect/core"
import { Deferred, Duration, Effect, Exit, Fiber, FiberId, Layer, Option, Redacted, Schema, TestClock } from "effect"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { timeoutFail } from "../src/internal/timeout.js"
import { secret } from "./utils/scripted.js"

/** A server that answers `/fast` at once and never answers `/slow`; it tells when a slow request is dropped. */
const slowServer = Effect.acquireRelease(
  Effect.async<
    {
      readonly url: string
      readonly dropped: Deferred.Deferred<void>
      readonly arrived: () => number
      readonly server: Server
    }
  >(
    (resume) => {
      const dropped = Deferred.unsafeMake<void>(FiberId.none)
      let arrived = 0
      const server = createServer((request, response) => {
        arrived++
        if (request.url?.startsWith("/api/v1/fast") === true) {
          response.writeHead(200, { "content-type": "application/json" })
          response.end("{\"ok\":true}")
          return
        }
        response.on("close", () => Deferred.unsafeDone(dropped, Exit.void))
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          dropped,
          arrived: () => arrived,
          server
        })))
    }
  ),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
)

const clientOver = (baseUrl: string) =>
  TinkClient.layer({
    clientId: "app",
    clientSecret: Redacted.make(secret),
    baseUrl,
    maxRetries: 0,
    requestTimeout: "100 millis"
  }).pipe(
    Layer.provide(Layer.mergeAll(FetchHttpClient.layer, ResponseCache.layerMemory({ capacity: 10 }))),
    Layer.orDie
  )

const get = (path: string) =>
  Effect.flatMap(
    TinkClient.TinkClient,
    (client) => client.get(path, { operation: "test", auth: TinkClient.noAuth, schema: Schema.Unknown })
  )

describe("the per-attempt timeout under the live clock", () => {
  it.live("a slow answer fails with TinkTimeoutError at the deadline and the request is dropped", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* slowServer
      const startedAt = Date.now()
      const error = yield* Effect.flip(Effect.provide(get("/api/v1/slow"), clientOver(server.url)))
      const elapsed = Date.now() - startedAt
      assert.strictEqual(error._tag, "TinkTimeoutError")
      assert.strictEqual(error.message.includes("/api/v1/slow"), true, error.message)
      assert.isAtLeast(elapsed, 95)
      assert.isBelow(elapsed, 5_000)
      // The attempt was interrupted, which aborts the request: the server sees it go.
      yield* Deferred.await(server.dropped)
      assert.strictEqual(server.arrived(), 1)
    })))

  it.live("a fast answer within the timeout is returned, and interrupting the caller drops the request", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* slowServer
      const layer = clientOver(server.url)
      assert.deepStrictEqual(yield* Effect.provide(get("/api/v1/fast"), layer), { ok: true })
      const fiber = yield* Effect.fork(Effect.provide(get("/api/v1/slow"), layer))
      while (server.arrived() < 2) yield* Effect.sleep("1 millis")
      yield* Fiber.interrupt(fiber)
      yield* Deferred.await(server.dropped)
    })))

  it.live("without racing fibers: the attempt starts before other callers queued behind it run", () =>
    Effect.gen(function*() {
      let started = 0
      const seen: Array<number> = []
      const caller = Effect.suspend(() => {
        started++
        return timeoutFail(
          Effect.zipRight(Effect.sync(() => seen.push(started)), Effect.never),
          Duration.millis(50),
          () => "late" as const
        )
      })
      const callers = yield* Effect.forkAll(Array.from({ length: 10 }, () => Effect.flip(caller)))
      // `Effect.timeoutFail` forks the effect, which then runs after the ten callers have started.
      assert.deepStrictEqual(yield* Fiber.join(callers), Array.from({ length: 10 }, () => "late"))
      assert.deepStrictEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    }))
})

describe("the per-attempt timeout under the TestClock", () => {
  it.effect("waits for the clock to be moved, then fails with the same error", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        timeoutFail(Effect.never, Duration.millis(1000), () => "late" as const)
      )
      yield* TestClock.adjust("999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* Effect.flip(Fiber.join(fiber)), "late")
    }))
})
