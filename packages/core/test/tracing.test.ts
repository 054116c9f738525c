import { HttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache, TinkClient, TinkUser } from "@tink-effect/core"
import { Cause, Effect, Exit, Fiber, Metric, Redacted, Schema, Tracer } from "effect"
import { recording } from "./utils/recording.js"
import { clientLayer, scripted, withClock } from "./utils/scripted.js"

const read = Effect.gen(function*() {
  const client = yield* TinkClient.TinkClient
  const session = yield* TinkUser.make({ userId: "user-1", accessToken: Redacted.make("user-token") })
  return yield* client.get("/api/v1/credentials/list", {
    auth: TinkClient.userAuth(session),
    schema: Schema.Unknown,
    operation: "listCredentials"
  })
})

describe("operation spans are opened by the client, for reads that reach Tink only", () => {
  it.effect("a miss opens one span (joined reads none), a hit none, a read with caching off one marked bypass", () => {
    const tink = scripted(() => ({ status: 200, body: { credentials: [] } }))
    return Effect.gen(function*() {
      const { named, tracer } = yield* recording
      const traced = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.withTracer(effect, tracer)
      yield* traced(Effect.all([read, read, read], { concurrency: "unbounded" }))
      yield* traced(read)
      const afterHits = named("tink.users.listCredentials")
      assert.lengthOf(afterHits, 1, "one miss; two joined it, one hit")
      assert.strictEqual(afterHits[0].attributes.get("tink.cache.outcome"), "miss")
      assert.isString(afterHits[0].attributes.get("tink.scope.hash"))
      assert.notInclude(JSON.stringify(Array.from(afterHits[0].attributes.values())), "user-1")
      yield* traced(ResponseCache.bypass(read))
      const spans = named("tink.users.listCredentials")
      assert.lengthOf(spans, 2)
      assert.strictEqual(spans[1].attributes.get("tink.cache.outcome"), "bypass")
      assert.lengthOf(named("GET /api/v1/credentials/list"), 2, "one attempt per read that reached Tink")
      assert.lengthOf(tink.to("/api/v1/credentials/list"), 2)
    }).pipe(Effect.provide(clientLayer(tink.client)))
  })
})

/** A read of one credential by a user session, named by its route template. */
const readCredential = (id: string) =>
  Effect.gen(function*() {
    const client = yield* TinkClient.TinkClient
    const session = yield* TinkUser.make({ userId: "user-1", accessToken: Redacted.make("user-token") })
    return yield* client.get(`/api/v1/credentials/${id}`, {
      auth: TinkClient.userAuth(session),
      schema: Schema.Unknown,
      operation: "getCredential",
      route: "/api/v1/credentials/{id}"
    })
  })

const histogram = (labels: Record<string, string>) =>
  Effect.map(Metric.snapshot, (pairs) => {
    let count = 0
    let sum = 0
    for (const pair of pairs) {
      if (pair.metricKey.name !== "http.client.request.duration") continue
      const tags = new Map(pair.metricKey.tags.map((tag) => [tag.key, tag.value]))
      if (!Object.entries(labels).every(([key, value]) => tags.get(key) === value)) continue
      const state = pair.metricState as unknown as { readonly count: number; readonly sum: number }
      count += state.count
      sum += state.sum
    }
    return { count, sum }
  })

describe("a miss's operation span is opened in its flight's own fiber, like any other", () => {
  it.effect("the same name, kind and parent as a bypassed read's; its attempts are its children; retries annotate it", () => {
    const tink = scripted((sent, index) =>
      sent.path === "/api/v1/credentials/list" && index % 2 === 0
        ? { status: 503 }
        : { status: 200, body: { credentials: [] } }
    )
    return Effect.gen(function*() {
      const { named, tracer } = yield* recording
      const inHandler = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.withTracer(Effect.withSpan(effect, "handler", { captureStackTrace: false }), tracer)
      yield* withClock(inHandler(read))
      yield* withClock(inHandler(ResponseCache.bypass(read)))
      const [handlerOfMiss, handlerOfBypass] = named("handler")
      const [miss, bypassed] = named("tink.users.listCredentials")
      const attempts = named("GET /api/v1/credentials/list")
      assert.lengthOf(attempts, 4, "each read: a 503, then its retry")
      const parentOf = (span: Tracer.Span) => span.parent._tag === "Some" ? span.parent.value : undefined
      for (
        const [operation, handler, outcome] of [[miss, handlerOfMiss, "miss"], [
          bypassed,
          handlerOfBypass,
          "bypass"
        ]] as const
      ) {
        assert.strictEqual(operation.kind, "internal")
        assert.strictEqual(parentOf(operation), handler, "the caller's span is the operation's parent")
        assert.strictEqual(operation.status._tag, "Ended")
        assert.strictEqual(operation.attributes.get("tink.cache.outcome"), outcome)
        assert.strictEqual(operation.attributes.get("tink.retries"), 1)
        const children = attempts.filter((attempt) => parentOf(attempt) === operation)
        assert.lengthOf(children, 2, `${outcome}: both attempts are the operation's children`)
        for (const attempt of children) assert.strictEqual(attempt.status._tag, "Ended")
        assert.isTrue(operation.status._tag === "Ended" && Exit.isSuccess(operation.status.exit))
      }
    }).pipe(Effect.provide(clientLayer(tink.client, { maxRetries: 1 })))
  })

  it.effect("a miss whose readers all leave ends its operation span, as interrupted", () => {
    const tink = scripted(() => ({ status: 200, body: { credentials: [] } }))
    // Under the TestClock, an answer that waits a minute never comes unless the test says.
    const held = HttpClient.transform(tink.client, (effect) => Effect.delay(effect, "1 minute"))
    return Effect.gen(function*() {
      const { named, tracer } = yield* recording
      const reader = yield* Effect.fork(Effect.withTracer(read, tracer))
      while (named("GET /api/v1/credentials/list").length === 0) yield* Effect.yieldNow()
      const [operation] = named("tink.users.listCredentials")
      assert.strictEqual(operation.status._tag, "Started")
      yield* Fiber.interrupt(reader)
      // The flight's fiber is interrupted once its last reader has gone.
      for (let i = 0; i < 1000 && operation.status._tag !== "Ended"; i++) yield* Effect.yieldNow()
      assert.isTrue(operation.status._tag === "Ended" && Exit.isInterrupted(operation.status.exit))
      const [attempt] = named("GET /api/v1/credentials/list")
      assert.isTrue(attempt.status._tag === "Ended" && Exit.isInterrupted(attempt.status.exit))
    }).pipe(Effect.provide(clientLayer(held, { maxRetries: 0 })))
  })
})

describe("HTTP attempts follow OpenTelemetry's conventions for HTTP clients", () => {
  it.effect("span name, attributes, integer status, Tink's request id, resend count, error.type", () => {
    const tink = scripted((sent, index) => {
      if (sent.path === "/api/v1/credentials/cred-503") {
        return index === 0
          ? { status: 503, headers: { "x-request-id": "req-first" } }
          : { status: 200, body: {}, headers: { "x-request-id": "req-second" } }
      }
      // A request id that is not an id (here a token-like value with a space) is not recorded.
      if (sent.path === "/api/v1/credentials/cred-odd") {
        return { status: 200, body: {}, headers: { "x-request-id": "Bearer user-token" } }
      }
      return undefined
    })
    return Effect.gen(function*() {
      const { named, tracer } = yield* recording
      yield* withClock(Effect.withTracer(readCredential("cred-503"), tracer))
      yield* Effect.withTracer(readCredential("cred-odd"), tracer)
      const attempts = named("GET /api/v1/credentials/{id}")
      assert.lengthOf(attempts, 3)
      const [failed, retried, odd] = attempts
      assert.strictEqual(failed.kind, "client")
      assert.deepStrictEqual(Object.fromEntries(failed.attributes), {
        "http.request.method": "GET",
        "url.template": "/api/v1/credentials/{id}",
        "server.address": "tink.test",
        "server.port": 80,
        "http.response.status_code": 503,
        "tink.request_id": "req-first",
        "error.type": "TinkApiError"
      })
      assert.strictEqual(retried.attributes.get("http.request.resend_count"), 1)
      assert.strictEqual(retried.attributes.get("http.response.status_code"), 200)
      assert.strictEqual(retried.attributes.get("tink.request_id"), "req-second")
      assert.isFalse(retried.attributes.has("error.type"), "a success has no error.type")
      assert.isFalse(odd.attributes.has("tink.request_id"))
      for (const span of attempts) {
        assert.notInclude(JSON.stringify(Array.from(span.attributes.values())), "cred-")
      }
    }).pipe(Effect.provide(clientLayer(tink.client, { maxRetries: 2 })))
  })

  it.effect("a failed span records the error's tag, route and status, never the path; the caller gets the error", () => {
    const tink = scripted(() => undefined)
    return Effect.gen(function*() {
      const { named, tracer } = yield* recording
      const exit = yield* Effect.exit(Effect.withTracer(readCredential("cred-secret-404"), tracer))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.strictEqual((error as { _tag?: string })._tag, "TinkNotFoundError")
      assert.include(String((error as { path?: string }).path), "cred-secret-404", "the caller's error is intact")
      const spans = [...named("tink.users.getCredential"), ...named("GET /api/v1/credentials/{id}")]
      assert.lengthOf(spans, 2)
      const messages: Array<string> = []
      for (const span of spans) {
        const ended = span.status._tag === "Ended" ? span.status.exit : Exit.void
        assert.isTrue(Exit.isFailure(ended), span.name)
        const cause = Exit.isFailure(ended) ? ended.cause : Cause.empty
        // What an exporter turns into the exception event (type, message, stack) and the status.
        const [recorded] = Cause.prettyErrors(cause)
        assert.strictEqual(recorded.name, "TinkNotFoundError")
        messages.push(recorded.message)
        const fields = Object.keys(recorded).filter((key) => key !== "span")
          .map((key) => String((recorded as unknown as Record<string, unknown>)[key]))
        const rendered = [Cause.pretty(cause, { renderErrorCause: true }), recorded.stack, ...fields].join("\n")
        assert.notInclude(rendered, "cred-secret-404", span.name)
      }
      assert.deepStrictEqual(messages, [
        "TinkNotFoundError (404) in getCredential",
        "TinkNotFoundError (404) in GET /api/v1/credentials/{id}"
      ])
    }).pipe(Effect.provide(clientLayer(tink.client)))
  })

  it.effect("the duration histogram is in seconds and labelled by the conventional attributes", () => {
    const tink = scripted(() => undefined)
    const slow = HttpClient.transform(tink.client, (effect) => Effect.delay(effect, "1500 millis"))
    const labels = {
      "http.request.method": "GET",
      "url.template": "/api/v1/credentials/{id}",
      "server.address": "tink.test",
      "server.port": "80",
      "http.response.status_code": "404",
      "error.type": "TinkNotFoundError",
      unit: "s"
    }
    return Effect.gen(function*() {
      const before = yield* histogram(labels)
      yield* withClock(Effect.exit(readCredential("cred-slow")))
      const after = yield* histogram(labels)
      assert.strictEqual(after.count - before.count, 1)
      const seconds = after.sum - before.sum
      assert.isAtLeast(seconds, 1.5)
      assert.isAtMost(seconds, 1.6, "seconds, not milliseconds")
      const names = (yield* Metric.snapshot).map((pair) => pair.metricKey.name)
      assert.notInclude(names, "tink_http_request_duration_ms")
    }).pipe(Effect.provide(clientLayer(slow)))
  })
})

describe("cache counters are labelled by resource, derived from the route and never from an id", () => {
  it.effect("credentials, user, and `other` for a segment that is not a word", () => {
    const tink = scripted(() => ({ status: 200, body: {} }))
    const get = (path: string, route?: string) =>
      Effect.gen(function*() {
        const client = yield* TinkClient.TinkClient
        const session = yield* TinkUser.make({ userId: "user-1", accessToken: Redacted.make("user-token") })
        const options = { auth: TinkClient.userAuth(session), schema: Schema.Unknown }
        return yield* client.get(path, route === undefined ? options : { ...options, route })
      })
    const misses = Effect.map(Metric.snapshot, (pairs) => {
      const counts: Record<string, number> = {}
      for (const pair of pairs) {
        if (pair.metricKey.name !== "tink_cache_misses_total") continue
        const resource = pair.metricKey.tags.find((tag) => tag.key === "resource")?.value ?? "(none)"
        counts[resource] = (counts[resource] ?? 0) + (pair.metricState as unknown as { count: number }).count
      }
      return counts
    })
    return Effect.gen(function*() {
      const before = yield* misses
      yield* get("/api/v1/credentials/list")
      yield* get("/api/v1/credentials/cred-9f", "/api/v1/credentials/{id}")
      yield* get("/api/v1/user")
      yield* get("/data/v2/accounts")
      yield* get("/api/v1/Id123abc/details")
      const after = yield* misses
      const delta = Object.fromEntries(
        Object.keys(after).map((key) => [key, after[key] - (before[key] ?? 0)]).filter(([, n]) => n !== 0)
      )
      assert.deepStrictEqual(delta, { credentials: 2, user: 1, accounts: 1, other: 1 })
    }).pipe(Effect.provide(clientLayer(tink.client)))
  })
})

describe("spans cost nothing when no tracer records them (issue 12.5)", () => {
  /** The span the transport runs in, by name: the attempt's when spans are recorded. */
  const seenByTransport: Array<string | undefined> = []
  const observed = (tink: ReturnType<typeof scripted>) =>
    HttpClient.transform(tink.client, (effect) =>
      Effect.zipRight(
        Effect.map(Effect.option(Effect.currentSpan), (span) => {
          seenByTransport.push(span._tag === "Some" ? span.value.name : undefined)
        }),
        effect
      ))

  it.effect("with Effect's native tracer no span is opened and the caller's own span is not annotated", () => {
    const tink = scripted((sent, index) =>
      sent.path === "/api/v1/credentials/list" && index === 0 ? { status: 503 } : { status: 200, body: {} }
    )
    seenByTransport.length = 0
    return Effect.gen(function*() {
      // A caller's span (native, so recorded nowhere): a retried read inside it.
      const [handler] = yield* withClock(Effect.withSpan(Effect.zip(Effect.currentSpan, read), "handler"))
      assert.deepStrictEqual(seenByTransport, ["handler", "handler"], "no operation or attempt span in between")
      assert.deepStrictEqual(Object.fromEntries(handler.attributes), {}, "no tink attribute on the caller's span")
    }).pipe(Effect.provide(clientLayer(observed(tink), { maxRetries: 1 })))
  })

  it.effect("with a tracer installed the same reads open the same spans, with their attributes", () => {
    const tink = scripted((sent, index) =>
      sent.path === "/api/v1/credentials/list" && index === 0 ? { status: 503 } : { status: 200, body: {} }
    )
    seenByTransport.length = 0
    return Effect.gen(function*() {
      const { named, tracer } = yield* recording
      yield* withClock(Effect.withTracer(Effect.withSpan(read, "handler"), tracer))
      assert.deepStrictEqual(seenByTransport, ["GET /api/v1/credentials/list", "GET /api/v1/credentials/list"])
      const [operation] = named("tink.users.listCredentials")
      assert.strictEqual(operation.attributes.get("tink.cache.outcome"), "miss")
      assert.strictEqual(operation.attributes.get("tink.retries"), 1)
      const attempts = named("GET /api/v1/credentials/list")
      assert.deepStrictEqual(attempts.map((span) => span.attributes.get("http.response.status_code")), [503, 200])
      assert.strictEqual(attempts[1].attributes.get("http.request.resend_count"), 1)
      // Spans are off again inside `Effect.withTracerEnabled(false)`, tracer or not.
      seenByTransport.length = 0
      yield* Effect.withTracer(Effect.withTracerEnabled(ResponseCache.bypass(read), false), tracer)
      assert.lengthOf(named("tink.users.listCredentials"), 1)
      assert.lengthOf(named("GET /api/v1/credentials/list"), 2)
    }).pipe(Effect.provide(clientLayer(observed(tink), { maxRetries: 1 })))
  })
})

describe("tracePropagation", () => {
  it.effect("on: each attempt sends its own span in a W3C traceparent header; off (the default): none", () => {
    const tink = scripted(() => ({ status: 200, body: { credentials: [] } }))
    const quiet = scripted(() => ({ status: 200, body: { credentials: [] } }))
    return Effect.gen(function*() {
      const { named, tracer } = yield* recording
      yield* Effect.withTracer(ResponseCache.bypass(read), tracer).pipe(
        Effect.provide(clientLayer(tink.client, { tracePropagation: true }))
      )
      const [sent] = tink.to("/api/v1/credentials/list")
      const [attempt] = named("GET /api/v1/credentials/list")
      assert.isDefined(attempt)
      assert.strictEqual(sent?.headers["traceparent"], `00-${attempt!.traceId}-${attempt!.spanId}-01`)
      yield* Effect.withTracer(ResponseCache.bypass(read), tracer).pipe(Effect.provide(clientLayer(quiet.client)))
      const [unpropagated] = quiet.to("/api/v1/credentials/list")
      assert.isDefined(unpropagated)
      assert.isUndefined(unpropagated!.headers["traceparent"])
    })
  })
})
