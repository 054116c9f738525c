/**
 * The first attempt of a request runs one of two ways: in one handler on the lean transport's
 * own deadline-keeping `execute` (`NodeTinkHttpClient` under the live clock, traced or not),
 * or the general way (`attempt` with its exit handler), which any other client takes, the same
 * transport wrapped by `HttpClient.transform` included, and which every retry takes. Over real
 * sockets, each scenario runs once each way: same outcome (value, or error and its fields), same
 * `http.client.request.duration` samples (count per label set), and the expected ones. Traced
 * scenarios run again with a recording tracer installed, where the one-step attempt opens its
 * span itself (`Effect.makeSpan`) and the general one in `withSpan`: the same spans (name, kind,
 * attributes, parent, end and exit) and the same `traceparent` headers on the wire.
 */
import { HttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache, TinkClient, TinkError, TinkUser } from "@tink-effect/core"
import { NodeTinkHttpClient } from "@tink-effect/platform-node"
import { Cause, Deferred, Effect, Exit, Fiber, FiberId, Layer, Metric, Option, Redacted, Schema, Tracer } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

/** What the server answers the `n`th request of a path (since the last `reset`), or nothing at all. */
type Reply = { readonly status: number; readonly body: unknown } | "never"

const replies: Record<string, (n: number) => Reply> = {
  "/api/v1/ok": () => ({ status: 200, body: { id: "acc-1", balance: 12.5 } }),
  "/api/v1/bad-body": () => ({ status: 200, body: { id: 42 } }),
  "/api/v1/missing": () => ({ status: 404, body: { errorCode: "not_found", errorMessage: "no such account" } }),
  "/api/v1/flaky": (n) =>
    n < 2 ? { status: 500, body: { errorCode: "internal", errorMessage: "try again" } } : {
      status: 200,
      body: { id: "acc-3", balance: 3 }
    },
  "/api/v1/flaky-once": (n) =>
    n < 1 ? { status: 500, body: { errorCode: "internal", errorMessage: "try again" } } : {
      status: 200,
      body: { id: "acc-4", balance: 4 }
    },
  "/api/v1/silent": () => "never",
  "/api/v1/abandoned": () => "never"
}

/**
 * The server; `reset` starts a run: counts from 0, no `traceparent` headers received (one per
 * request, `undefined` for none), and new signals of a request's arrival and its socket's close.
 */
const tinkServer = Effect.acquireRelease(
  Effect.async<{
    readonly port: number
    readonly reset: () => void
    readonly arrived: () => Deferred.Deferred<void>
    readonly closed: () => Deferred.Deferred<void>
    readonly traceparents: () => ReadonlyArray<string | undefined>
    readonly close: () => Promise<void>
  }>((resume) => {
    let counts = new Map<string, number>()
    let traceparents: Array<string | undefined> = []
    let arrived = Deferred.unsafeMake<void>(FiberId.none)
    let closed = Deferred.unsafeMake<void>(FiberId.none)
    const server = createServer((request, response) => {
      const path = request.url ?? ""
      const n = counts.get(path) ?? 0
      counts.set(path, n + 1)
      const traceparent = request.headers.traceparent
      traceparents.push(Array.isArray(traceparent) ? traceparent.join(", ") : traceparent)
      Deferred.unsafeDone(arrived, Exit.void)
      const socketClosed = closed
      request.socket.on("close", () => Deferred.unsafeDone(socketClosed, Exit.void))
      const reply: Reply = request.headers.authorization !== "Bearer user-token"
        ? { status: 401, body: { errorCode: "unauthorized" } }
        : replies[path]?.(n) ?? { status: 404, body: {} }
      if (reply === "never") return
      response.writeHead(reply.status, { "content-type": "application/json", "x-request-id": `req-${n}` })
      response.end(JSON.stringify(reply.body))
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({
        port: (server.address() as AddressInfo).port,
        reset: () => {
          counts = new Map()
          traceparents = []
          arrived = Deferred.unsafeMake<void>(FiberId.none)
          closed = Deferred.unsafeMake<void>(FiberId.none)
        },
        arrived: () => arrived,
        closed: () => closed,
        traceparents: () => traceparents,
        close: () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections()
            server.close(() => resolve())
          })
      })))
  }),
  (server) => Effect.promise(server.close)
)

type Server = Effect.Effect.Success<typeof tinkServer>

const oneStep = Layer.scoped(HttpClient.HttpClient, NodeTinkHttpClient.make())
/** The same transport behind `HttpClient.transform`: it loses `executeWithin`, so attempts go the general way. */
const general = Layer.scoped(
  HttpClient.HttpClient,
  Effect.map(NodeTinkHttpClient.make(), (client) => HttpClient.transform(client, (effect) => effect))
)

const Account = Schema.Struct({ id: Schema.String, balance: Schema.Number })

/** A value, an error as its fields (its cause as text), or an interruption. */
interface Outcome {
  readonly value?: unknown
  readonly error?: Record<string, unknown>
  readonly interrupted?: true
}

const outcomeOf = (exit: Exit.Exit<unknown, TinkError.TinkError>): Outcome =>
  Exit.match(exit, {
    onSuccess: (value) => ({ value }),
    onFailure: (cause) => {
      if (Cause.isInterruptedOnly(cause)) return { interrupted: true }
      const error = Cause.squash(cause) as TinkError.TinkError
      return { error: { ...error, message: error.message, cause: String(error.cause) } }
    }
  })

/** The samples of `route` in the histogram, as a count per label set (`key=value`, sorted). */
const samplesOf = (route: string) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const counts: Record<string, number> = {}
    for (const pair of pairs) {
      if (pair.metricKey.name !== "http.client.request.duration") continue
      const tags = pair.metricKey.tags
      if (!tags.some((tag) => tag.key === "url.template" && tag.value === route)) continue
      const key = tags.map((tag) => `${tag.key}=${tag.value}`).sort().join(" ")
      counts[key] = (counts[key] ?? 0) + (pair.metricState as unknown as { readonly count: number }).count
    }
    return counts
  })

/** A label set as `samplesOf` writes it, for a GET of `route` on the server. */
const labels = (server: Server, route: string, status: number | undefined, errorType?: string) =>
  [
    "unit=s",
    "http.request.method=GET",
    `url.template=${route}`,
    "server.address=127.0.0.1",
    `server.port=${server.port}`,
    ...(status === undefined ? [] : [`http.response.status_code=${status}`]),
    ...(errorType === undefined ? [] : [`error.type=${errorType}`])
  ].sort().join(" ")

/** How a span ended: a failure by the error it records (a stand-in, never the Tink error itself). */
type SpanExit = "success" | "interrupted" | {
  readonly name: string
  readonly message: string
  /** Whether the recorded error is a Tink error (the original): never. */
  readonly tink: boolean
}

/** A span as both paths must record it: no ids, no times; its parent by name. */
interface SpanRecord {
  readonly name: string
  readonly kind: Tracer.SpanKind
  readonly attributes: Record<string, unknown>
  readonly parent: string | undefined
  readonly ended: boolean
  /** None while the span is open. */
  readonly exit?: SpanExit
}

const recordOf = (span: Tracer.Span): SpanRecord => {
  const record = {
    name: span.name,
    kind: span.kind,
    attributes: Object.fromEntries(span.attributes),
    parent: Option.match(span.parent, {
      onNone: () => undefined,
      onSome: (parent) => parent._tag === "Span" ? parent.name : `external ${parent.spanId}`
    }),
    ended: span.status._tag === "Ended"
  }
  if (span.status._tag !== "Ended") return record
  return {
    ...record,
    exit: Exit.match(span.status.exit, {
      onSuccess: (): SpanExit => "success",
      onFailure: (cause): SpanExit => {
        if (Cause.isInterruptedOnly(cause)) return "interrupted"
        const error = Cause.squash(cause) as Error
        return { name: error.name, message: error.message, tink: TinkError.isTinkError(error) }
      }
    })
  }
}

/** The W3C `traceparent` header naming `span`. */
const traceparentOf = (span: Tracer.Span) => `00-${span.traceId}-${span.spanId}-01`

/** Effect's native tracer, keeping every span it makes (as in core's tracing tests). */
const recording = Effect.map(Effect.tracer, (native) => {
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (...args) => {
      const span = native.span(...args)
      spans.push(span)
      return span
    },
    context: native.context
  })
  return { tracer, spans }
})

interface Scenario {
  readonly path: string
  readonly maxRetries?: number
  readonly requestTimeout?: "200 millis"
  /**
   * Run with a recording tracer installed, in a caller's span `handler`; with the read's
   * `operation` option (an operation span) and the client's `tracePropagation`, when given.
   */
  readonly traced?: { readonly operation?: string; readonly tracePropagation?: true }
  /** How the read is run; by default to its end. */
  readonly drive?: (
    read: Effect.Effect<unknown, TinkError.TinkError>,
    server: Server
  ) => Effect.Effect<Exit.Exit<unknown, TinkError.TinkError>>
}

/** What one run of a scenario showed. */
interface Run {
  readonly outcome: Outcome
  /** The histogram's delta: count per label set. */
  readonly samples: Record<string, number>
  /** Every span recorded, in the order opened (none when not traced). */
  readonly spans: ReadonlyArray<SpanRecord>
  /**
   * Each request's `traceparent` header as the server got it: `none`, `the attempt's span` when
   * it names the span of the attempt that sent it (the nth request, the nth client span), or the
   * header itself.
   */
  readonly traceparents: ReadonlyArray<string>
}

const session = TinkUser.makeSync({ userId: "user-1", accessToken: Redacted.make("user-token") })

/** Runs the scenario on each path against a fresh client: what each run showed. */
const onBothPaths = (server: Server, scenario: Scenario) =>
  Effect.forEach([oneStep, general], (http) =>
    Effect.gen(function*() {
      server.reset()
      const { spans, tracer } = yield* recording
      const before = yield* samplesOf(scenario.path)
      const client = TinkClient.layer({
        clientId: "app",
        clientSecret: Redacted.make("attempt-paths-secret"),
        baseUrl: `http://127.0.0.1:${server.port}`,
        maxRetries: scenario.maxRetries ?? 0,
        retryBaseDelay: "1 millis",
        requestTimeout: scenario.requestTimeout ?? "5 seconds",
        tracePropagation: scenario.traced?.tracePropagation ?? false
      }).pipe(Layer.provide(Layer.mergeAll(http, ResponseCache.layerMemory({ capacity: 100 }))), Layer.orDie)
      const exit = yield* Effect.flatMap(TinkClient.TinkClient, (tink) => {
        const untraced = ResponseCache.bypass(tink.get(scenario.path, {
          auth: TinkClient.userAuth(session),
          schema: Account,
          route: scenario.path,
          operation: scenario.traced?.operation
        }))
        const read = scenario.traced === undefined
          ? untraced
          : Effect.withTracer(Effect.withSpan(untraced, "handler"), tracer)
        return scenario.drive === undefined ? Effect.exit(read) : scenario.drive(read, server)
      }).pipe(Effect.provide(client))
      const after = yield* samplesOf(scenario.path)
      const delta: Record<string, number> = {}
      for (const [key, count] of Object.entries(after)) {
        if (count !== (before[key] ?? 0)) delta[key] = count - (before[key] ?? 0)
      }
      const attempts = spans.filter((span) => span.kind === "client")
      const traceparents = server.traceparents().map((header, n) =>
        header === undefined
          ? "none"
          : attempts[n] !== undefined && header === traceparentOf(attempts[n])
          ? "the attempt's span"
          : header
      )
      const run: Run = { outcome: outcomeOf(exit), samples: delta, spans: spans.map(recordOf), traceparents }
      return run
    }))

/** Both paths alike (outcome, samples, spans, trace headers), and the samples as expected: the one-step run. */
const expectAlike = ([lean, wrapped]: ReadonlyArray<Run>, samples: Record<string, number>): Run => {
  assert.deepStrictEqual(wrapped.outcome, lean.outcome, "outcome: general path vs one-step path")
  assert.deepStrictEqual(wrapped.samples, lean.samples, "samples: general path vs one-step path")
  assert.deepStrictEqual(wrapped.spans, lean.spans, "spans: general path vs one-step path")
  assert.deepStrictEqual(wrapped.traceparents, lean.traceparents, "traceparent: general path vs one-step path")
  assert.deepStrictEqual(lean.samples, samples, "samples")
  return lean
}

/** An attempt's span as expected: a GET of `route` on the server, its parent, its end. */
const attemptSpan = (
  server: Server,
  route: string,
  parent: string,
  attributes: Record<string, unknown>,
  exit: SpanExit
): SpanRecord => ({
  name: `GET ${route}`,
  kind: "client",
  attributes: {
    "http.request.method": "GET",
    "url.template": route,
    "server.address": "127.0.0.1",
    "server.port": server.port,
    ...attributes
  },
  parent,
  ended: true,
  exit
})

/** The failure a span records for `tag` (with `status`) in an attempt of `route`: a stand-in. */
const standIn = (tag: string, status: number, route: string) => ({
  name: tag,
  message: `${tag} (${status}) in GET ${route}`,
  tink: false
})

const attemptsOf = (run: Run) => run.spans.filter((span) => span.kind === "client")

/** Interrupts the read once the server has its request (which it never answers); the connection then closes. */
const interruptWhileHeld: NonNullable<Scenario["drive"]> = (read, server) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(read)
    yield* Deferred.await(server.arrived())
    const exit = yield* Fiber.interrupt(fiber)
    yield* Deferred.await(server.closed())
    return exit
  })

describe("the one-step first attempt and the general one give the same results and telemetry", () => {
  it.scoped("the bare transport has executeWithin, the wrapped one has not", () =>
    Effect.gen(function*() {
      const withinKey = Symbol.for("@tink-effect/core/HttpClient/executeWithin")
      const bare = yield* NodeTinkHttpClient.make()
      assert.strictEqual(typeof (bare as unknown as Record<symbol, unknown>)[withinKey], "function")
      assert.isFalse(withinKey in HttpClient.transform(bare, (effect) => effect))
    }))

  it.scopedLive("200 with a body the schema decodes", () =>
    Effect.gen(function*() {
      const server = yield* tinkServer
      const path = "/api/v1/ok"
      const { outcome } = expectAlike(yield* onBothPaths(server, { path }), { [labels(server, path, 200)]: 1 })
      assert.deepStrictEqual(outcome, { value: { id: "acc-1", balance: 12.5 } })
    }))

  it.scopedLive("200 with a body the schema rejects: TinkDecodeError", () =>
    Effect.gen(function*() {
      const server = yield* tinkServer
      const path = "/api/v1/bad-body"
      const { outcome } = expectAlike(
        yield* onBothPaths(server, { path }),
        { [labels(server, path, 200, "TinkDecodeError")]: 1 }
      )
      assert.strictEqual(outcome.error?._tag, "TinkDecodeError")
      assert.strictEqual(outcome.error?.status, 200)
      assert.strictEqual(outcome.error?.path, path)
    }))

  it.scopedLive("404: TinkNotFoundError with Tink's code and request id", () =>
    Effect.gen(function*() {
      const server = yield* tinkServer
      const path = "/api/v1/missing"
      const { outcome } = expectAlike(
        yield* onBothPaths(server, { path }),
        { [labels(server, path, 404, "TinkNotFoundError")]: 1 }
      )
      assert.strictEqual(outcome.error?._tag, "TinkNotFoundError")
      assert.strictEqual(outcome.error?.status, 404)
      assert.strictEqual(outcome.error?.errorCode, "not_found")
      assert.strictEqual(outcome.error?.requestId, "req-0")
    }))

  it.scopedLive("500 twice then 200, two retries: every attempt counted, the same value", () =>
    Effect.gen(function*() {
      const server = yield* tinkServer
      const path = "/api/v1/flaky"
      const { outcome } = expectAlike(
        yield* onBothPaths(server, { path, maxRetries: 2 }),
        { [labels(server, path, 500, "TinkApiError")]: 2, [labels(server, path, 200)]: 1 }
      )
      assert.deepStrictEqual(outcome, { value: { id: "acc-3", balance: 3 } })
    }))

  it.scopedLive("500 twice, one retry: the last 500 is the error", () =>
    Effect.gen(function*() {
      const server = yield* tinkServer
      const path = "/api/v1/flaky"
      const { outcome } = expectAlike(
        yield* onBothPaths(server, { path, maxRetries: 1 }),
        { [labels(server, path, 500, "TinkApiError")]: 2 }
      )
      assert.strictEqual(outcome.error?._tag, "TinkApiError")
      assert.strictEqual(outcome.error?.status, 500)
      assert.strictEqual(outcome.error?.requestId, "req-1")
    }))

  it.scopedLive("no answer within requestTimeout: TinkTimeoutError", () =>
    Effect.gen(function*() {
      const server = yield* tinkServer
      const path = "/api/v1/silent"
      const { outcome } = expectAlike(
        yield* onBothPaths(server, { path, requestTimeout: "200 millis" }),
        { [labels(server, path, undefined, "TinkTimeoutError")]: 1 }
      )
      assert.strictEqual(outcome.error?._tag, "TinkTimeoutError")
      assert.strictEqual(outcome.error?.path, path)
    }))

  it.scopedLive("interrupted while Tink has the request: an \"interrupted\" sample, the connection closed", () =>
    Effect.gen(function*() {
      const server = yield* tinkServer
      const path = "/api/v1/abandoned"
      const { outcome } = expectAlike(
        yield* onBothPaths(server, {
          path,
          drive: interruptWhileHeld
        }),
        { [labels(server, path, undefined, "interrupted")]: 1 }
      )
      assert.deepStrictEqual(outcome, { interrupted: true })
    }))
})

describe("with a tracer installed, both ways record the same spans", () => {
  it.scopedLive("200 decoded, in an operation: the attempt's span is the operation span's child", () =>
    Effect.gen(function*() {
      const server = yield* tinkServer
      const path = "/api/v1/ok"
      const run = expectAlike(
        yield* onBothPaths(server, { path, traced: { operation: "getAccount" } }),
        { [labels(server, path, 200)]: 1 }
      )
      assert.deepStrictEqual(run.outcome, { value: { id: "acc-1", balance: 12.5 } })
      const [handler, operation, attempt, ...others] = run.spans
      assert.deepStrictEqual(others, [], "the caller's span, the operation's and the attempt's, nothing else")
      assert.deepStrictEqual(handler, {
        name: "handler",
        kind: "internal",
        attributes: {},
        parent: undefined,
        ended: true,
        exit: "success"
      })
      assert.isString(operation.attributes["tink.scope.hash"])
      assert.deepStrictEqual(operation, {
        name: "tink.users.getAccount",
        kind: "internal",
        attributes: { "tink.cache.outcome": "bypass", "tink.scope.hash": operation.attributes["tink.scope.hash"] },
        parent: "handler",
        ended: true,
        exit: "success"
      })
      assert.deepStrictEqual(
        attempt,
        attemptSpan(server, path, "tink.users.getAccount", {
          "http.response.status_code": 200,
          "tink.request_id": "req-0"
        }, "success")
      )
      assert.deepStrictEqual(run.traceparents, ["none"], "tracePropagation is off by default")
    }))

  it.scopedLive("404: error.type and status on the attempt's span, which fails with a stand-in", () =>
    Effect.gen(function*() {
      const server = yield* tinkServer
      const path = "/api/v1/missing"
      const run = expectAlike(
        yield* onBothPaths(server, { path, traced: {} }),
        { [labels(server, path, 404, "TinkNotFoundError")]: 1 }
      )
      assert.strictEqual(run.outcome.error?._tag, "TinkNotFoundError", "the caller gets the Tink error")
      assert.deepStrictEqual(attemptsOf(run), [
        attemptSpan(server, path, "handler", {
          "http.response.status_code": 404,
          "tink.request_id": "req-0",
          "error.type": "TinkNotFoundError"
        }, standIn("TinkNotFoundError", 404, path))
      ])
      assert.deepStrictEqual(run.spans.map((span) => span.name), ["handler", `GET ${path}`])
      assert.deepStrictEqual(run.traceparents, ["none"])
    }))

  it.scopedLive("500 then 200, one retry: two attempt spans, the second with resend_count 1", () =>
    Effect.gen(function*() {
      const server = yield* tinkServer
      const path = "/api/v1/flaky-once"
      const run = expectAlike(
        yield* onBothPaths(server, { path, maxRetries: 1, traced: { operation: "getAccount" } }),
        { [labels(server, path, 500, "TinkApiError")]: 1, [labels(server, path, 200)]: 1 }
      )
      assert.deepStrictEqual(run.outcome, { value: { id: "acc-4", balance: 4 } })
      assert.deepStrictEqual(attemptsOf(run), [
        attemptSpan(server, path, "tink.users.getAccount", {
          "http.response.status_code": 500,
          "tink.request_id": "req-0",
          "error.type": "TinkApiError"
        }, standIn("TinkApiError", 500, path)),
        attemptSpan(server, path, "tink.users.getAccount", {
          "http.request.resend_count": 1,
          "http.response.status_code": 200,
          "tink.request_id": "req-1"
        }, "success")
      ])
      const operation = run.spans.find((span) => span.name === "tink.users.getAccount")
      assert.strictEqual(operation?.attributes["tink.retries"], 1)
      assert.strictEqual(operation?.exit, "success")
      assert.deepStrictEqual(run.traceparents, ["none", "none"])
    }))

  it.scopedLive("interrupted while Tink has the request: the attempt's span ends, as interrupted", () =>
    Effect.gen(function*() {
      const server = yield* tinkServer
      const path = "/api/v1/abandoned"
      const run = expectAlike(
        yield* onBothPaths(server, { path, traced: {}, drive: interruptWhileHeld }),
        { [labels(server, path, undefined, "interrupted")]: 1 }
      )
      assert.deepStrictEqual(run.outcome, { interrupted: true })
      assert.deepStrictEqual(attemptsOf(run), [
        attemptSpan(server, path, "handler", { "error.type": "interrupted" }, "interrupted")
      ])
      assert.deepStrictEqual(run.spans.map((span) => [span.name, span.exit]), [
        ["handler", "interrupted"],
        [`GET ${path}`, "interrupted"]
      ])
    }))

  it.scopedLive("tracePropagation: the request's traceparent names the attempt's span", () =>
    Effect.gen(function*() {
      const server = yield* tinkServer
      const path = "/api/v1/ok"
      const run = expectAlike(
        yield* onBothPaths(server, { path, traced: { operation: "getAccount", tracePropagation: true } }),
        { [labels(server, path, 200)]: 1 }
      )
      assert.deepStrictEqual(run.traceparents, ["the attempt's span"])
      assert.deepStrictEqual(
        attemptsOf(run),
        [attemptSpan(server, path, "tink.users.getAccount", {
          "http.response.status_code": 200,
          "tink.request_id": "req-0"
        }, "success")]
      )
    }))

  it.scopedLive("tracePropagation with a retry: each attempt sends its own span", () =>
    Effect.gen(function*() {
      const server = yield* tinkServer
      const path = "/api/v1/flaky-once"
      const [lean, wrapped] = yield* onBothPaths(server, {
        path,
        maxRetries: 1,
        traced: { operation: "getAccount", tracePropagation: true }
      })
      assert.deepStrictEqual(lean.traceparents, ["the attempt's span", "the attempt's span"], "one-step path")
      assert.deepStrictEqual(wrapped.traceparents, ["the attempt's span", "the attempt's span"], "general path")
      expectAlike([lean, wrapped], { [labels(server, path, 500, "TinkApiError")]: 1, [labels(server, path, 200)]: 1 })
    }))
})
