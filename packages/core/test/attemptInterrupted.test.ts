/**
 * The one-step first attempt (over a transport that keeps the deadline itself, `executeWithin`)
 * has no exit handler of its own: an interruption while the request is out is reported by the
 * transport's canceler, and one the attempt's handler never sees by the fiber's end. Either way
 * the attempt is recorded once, as interrupted, and its span is ended. The transport is a test
 * double of that protocol that answers when the test says.
 */
import { HttpClient, type HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache, TinkClient, TinkUser } from "@tink-effect/core"
import { Effect, Exit, Fiber, FiberId, Metric, Redacted, Schema, Tracer } from "effect"
import { recording } from "./utils/recording.js"
import { clientLayer } from "./utils/scripted.js"

const body = "{\"ok\":true}"

/** A transport whose request waits for the test to answer it; counts its canceler's calls. */
const heldTransport = () => {
  let held: {
    readonly request: HttpClientRequest.HttpClientRequest
    readonly resume: (effect: Effect.Effect<HttpClientResponse.HttpClientResponse>) => void
  } | undefined
  let cancelled = 0
  const executeWithin = (
    request: HttpClientRequest.HttpClientRequest,
    _millis: number,
    _onTimeout: () => unknown,
    onInterrupt?: () => void
  ) =>
    Effect.async<HttpClientResponse.HttpClientResponse>((resume) => {
      held = { request, resume }
      return Effect.sync(() => {
        cancelled++
        onInterrupt?.()
      })
    })
  const client = HttpClient.make(() => Effect.die("the test sends through executeWithin only"))
  Object.defineProperty(client, Symbol.for("@tink-effect/core/HttpClient/executeWithin"), { value: executeWithin })
  return {
    client,
    isHeld: () => held !== undefined,
    /** Answers 200, read whole (its text where the client looks for it). */
    answer: () => {
      const response = HttpClientResponse.fromWeb(held!.request, new Response(body, { status: 200 }))
      Object.defineProperty(response, Symbol.for("@tink-effect/core/HttpClientResponse/bodyText"), { value: body })
      held!.resume(Effect.succeed(response))
    },
    cancelled: () => cancelled
  }
}

/** Samples of the duration histogram for the route, by `error.type` (`none` for a success). */
const samples = (route: string) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const counts: Record<string, number> = {}
    for (const pair of pairs) {
      if (pair.metricKey.name !== "http.client.request.duration") continue
      const tags = new Map(pair.metricKey.tags.map((tag) => [tag.key, tag.value]))
      if (tags.get("url.template") !== route) continue
      const errorType = tags.get("error.type") ?? "none"
      counts[errorType] = (counts[errorType] ?? 0) + (pair.metricState as unknown as { count: number }).count
    }
    return counts
  })

/** Reads `route` with caching off (so in the caller's fiber), traced by `tracer`. */
const tracedRead = (route: string, tracer: Tracer.Tracer) =>
  Effect.gen(function*() {
    const client = yield* TinkClient.TinkClient
    const session = TinkUser.makeSync({ userId: "user-1", accessToken: Redacted.make("user-token") })
    return yield* ResponseCache.bypass(
      client.get(route, { auth: TinkClient.userAuth(session), schema: Schema.Unknown })
    )
      .pipe(Effect.withTracer(tracer))
  })

describe("an interrupted one-step attempt is recorded once, as interrupted, its span ended", () => {
  for (const when of ["while the request is out", "as its answer arrives"]) {
    it.live(when, () => {
      const transport = heldTransport()
      const route = when.startsWith("while") ? "/api/v1/held-out" : "/api/v1/held-answered"
      return Effect.gen(function*() {
        const before = yield* samples(route)
        const { named, tracer } = yield* recording
        const fiber = yield* Effect.fork(tracedRead(route, tracer))
        while (!transport.isHeld()) yield* Effect.yieldNow()
        if (when.startsWith("while")) {
          yield* Fiber.interrupt(fiber)
          assert.strictEqual(transport.cancelled(), 1)
        } else {
          // The answer and the interruption reach the fiber in the same tick.
          transport.answer()
          fiber.unsafeInterruptAsFork(FiberId.none)
        }
        assert.isTrue(Exit.isInterrupted(yield* Fiber.await(fiber)))
        const after = yield* samples(route)
        assert.deepStrictEqual(after, { ...before, interrupted: (before.interrupted ?? 0) + 1 })
        const attempt = named(`GET ${route}`)
        assert.lengthOf(attempt, 1)
        assert.strictEqual(attempt[0]!.status._tag, "Ended")
        assert.strictEqual(attempt[0]!.attributes.get("error.type"), "interrupted")
      }).pipe(Effect.provide(clientLayer(transport.client)))
    })
  }
})
