import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import * as TinkMetrics from "../TinkMetrics.js"

/**
 * Every span, span attribute and HTTP metric label tink-effect records is made here, so what
 * telemetry shows (and that it never shows an id, a token or a URL) is decided in one place.
 * HTTP attempts follow OpenTelemetry's semantic conventions for HTTP clients (span
 * `{method} {url.template}`, `http.request.method`, `http.response.status_code`, `url.template`,
 * `server.address`, `server.port`, `error.type`, `http.request.resend_count`, and the
 * `http.client.request.duration` histogram in seconds). `url.full` is left out on purpose: it
 * would carry the ids. Spans carry route templates (`/api/v1/credentials/{id}`) and a short hash
 * of the cache scope only, and a failed span records a stand-in error (tag, route, status) rather
 * than the error itself, whose message names the concrete path.
 */

/** Memo tables are keyed by templates and tags, so they stay small; the cap is a backstop. */
const memo = <A>(table: Map<string, A>, key: string, make: () => A): A => {
  let value = table.get(key)
  if (value === undefined) {
    if (table.size >= 512) table.clear()
    value = make()
    table.set(key, value)
  }
  return value
}

const operationNames = new Map<string, string>()

/** `tink.users.<operation>`, built once per operation rather than per call. */
const operationName = (operation: string): string => memo(operationNames, operation, () => `tink.users.${operation}`)

// --- Whether anyone records spans ------------------------------------------------------------

/** The tracer every program has unless it installs one: its spans go nowhere. */
const nativeTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/**
 * Whether spans made in this fiber are recorded: a tracer other than Effect's native one is
 * installed (e.g. `@effect/opentelemetry`'s, or a test's), and tracing is not switched off. When
 * not, no span is opened, no attribute built and no span annotated: in Effect 3 a span costs
 * several times a cache hit, for nothing when nobody records it. Metrics are kept either way.
 *
 * @internal
 */
export const isTracing = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  fiber.currentTracer !== nativeTracer && fiber.getFiberRef(FiberRef.currentTracerEnabled)

/** Annotates the current span, only when spans are recorded (else the caller's own span would get it). */
const annotate = (annotations: Record<string, unknown>): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => isTracing(fiber) ? Effect.annotateCurrentSpan(annotations) : Effect.void)

// --- Failures as spans see them -------------------------------------------------------------

/**
 * What a failed span records instead of the error: an exporter turns the span's failure into an
 * exception event (type, message, stack) and a status message, and a Tink error's message holds
 * the concrete path (`/api/v1/credentials/<id>`). This stand-in says which error, where (by
 * route template) and with which status, and nothing else; the caller still gets the original.
 */
const original_ = Symbol("tink-effect/SpanFailure/original")

class SpanFailure extends globalThis.Error {
  constructor(name: string, message: string, original: unknown) {
    super(message)
    this.name = name
    // The stack says where the stand-in was made, which is of no use to anyone reading a trace.
    this.stack = `${name}: ${message}`
    // Not enumerable and keyed by a symbol: what renders an error (Cause.pretty, exporters)
    // copies enumerable string keys only. A WeakMap would not do: Effect hands a failure on
    // wrapped in a Proxy.
    Object.defineProperty(this, original_, { value: original, enumerable: false })
  }
}

/** The low-cardinality name of a failure: the error's tag, or `_OTHER` (the conventions' word). */
const errorTypeOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : "_OTHER"

const statusOf = (error: unknown): number | undefined =>
  typeof error === "object" && error !== null && "status" in error && typeof error.status === "number"
    ? error.status
    : undefined

const hide = (where: string) => (error: unknown): SpanFailure => {
  const type = errorTypeOf(error)
  const status = statusOf(error)
  return new SpanFailure(type, status === undefined ? `${type} in ${where}` : `${type} (${status}) in ${where}`, error)
}

const reveal = <E>(failure: SpanFailure): E => (failure as unknown as Record<symbol, E>)[original_]

/** `effect` in a span whose failures are recorded as stand-ins; the caller gets the originals. */
const spanned = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  name: string,
  where: string,
  options: {
    readonly kind?: "client" | "internal"
    readonly attributes: Record<string, unknown>
  }
): Effect.Effect<A, E, R> =>
  Effect.mapError(
    Effect.withSpan(Effect.mapError(effect, hide(where)), name, { ...options, captureStackTrace: false }),
    reveal<E>
  )

// --- Operation spans ------------------------------------------------------------------------

/** How a read met the cache, for reads that reached Tink (hits and joined reads open no span). */
export type CacheOutcome = "miss" | "bypass"

/**
 * The span of one operation, the only place operation spans are opened (the pipeline calls it
 * once per operation that reaches Tink; `TinkClient.withOperationSpan` for composite ones). Reads
 * served from the cache open none: in Effect 3 a span costs several times a hit, so hits are
 * counted in `TinkMetrics` instead. Nothing is built when no tracer records spans (`isTracing`).
 *
 * @internal
 */
export const operation = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options: OperationOptions
): Effect.Effect<A, E, R> =>
  options.operation === undefined ? effect : Effect.withFiberRuntime((fiber) => operationIn(fiber, effect, options))

/** What an operation's span says: its name, the scope's short hash, how it met the cache. @internal */
export interface OperationOptions {
  readonly operation: string | undefined
  readonly scopeHash?: string | undefined
  readonly cache?: CacheOutcome | undefined
}

/** `operation`, for a caller that already runs in `fiber`: no step of its own. @internal */
export const operationIn = <A, E, R>(
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  effect: Effect.Effect<A, E, R>,
  options: OperationOptions
): Effect.Effect<A, E, R> => {
  const name = options.operation
  if (name === undefined || !isTracing(fiber)) return effect
  return spanned(effect, operationName(name), name, { attributes: operationAttributes(options) })
}

const operationAttributes = (options: OperationOptions): Record<string, string> => {
  const attributes: Record<string, string> = {}
  if (options.cache !== undefined) attributes["tink.cache.outcome"] = options.cache
  if (options.scopeHash !== undefined) attributes["tink.scope.hash"] = options.scopeHash
  return attributes
}

/**
 * Ends a span opened without `withSpan`, as `withSpan` ends one (its failure as a stand-in named
 * by `where`), unless it has ended already.
 */
const endSpan = (
  span: Tracer.Span,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  clock: Clock.Clock,
  exit: Exit.Exit<unknown, unknown>,
  where: string
): void => {
  if (span.status._tag === "Ended") return
  const timed = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled)
  span.end(timed ? clock.unsafeCurrentTimeNanos() : BigInt(0), Exit.mapError(exit, hide(where)))
}

/**
 * `operationIn` for an effect that starts a fiber of its own, which ends soon after it (see
 * `InFiber.fetchAlone`): the span is made the current span by setting the fiber's context, which
 * nothing needs to restore, and ended when the effect ends (its failure as a stand-in), or, when
 * it is interrupted and no handler runs, by the fiber's end. So the operation takes no `withSpan`.
 *
 * @internal
 */
export const operationAlone = <A, E, R>(
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  effect: Effect.Effect<A, E, R>,
  options: OperationOptions
): Effect.Effect<A, E, R> => {
  const name = options.operation
  if (name === undefined || !isTracing(fiber)) return effect
  // The span is opened in one step and watched from the next: the fiber is new (it was started
  // for this effect), so it cannot have used up its steps and yielded in between.
  return Effect.flatMap(
    Effect.makeSpan(operationName(name), { attributes: operationAttributes(options), captureStackTrace: false }),
    (span) => {
      const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
      const end = (exit: Exit.Exit<unknown, unknown>) => endSpan(span, fiber, clock, exit, name)
      fiber.addObserver(end)
      return Effect.zipRight(
        FiberRef.update(FiberRef.currentContext, (context) => Context.add(context, Tracer.ParentSpan, span)),
        Effect.matchCauseEffect(effect, {
          onSuccess: (value) => {
            end(Exit.succeed(value))
            return Effect.succeed(value)
          },
          onFailure: (cause) => {
            end(Exit.failCause(cause))
            return Effect.failCause(cause)
          }
        })
      )
    }
  )
}

/** @internal */
export const annotateRetry = (retry: number): Effect.Effect<void> => annotate({ "tink.retries": retry })

/** @internal */
export const annotateInvalidated: Effect.Effect<void> = annotate({ "tink.cache.outcome": "invalidated" })

// --- HTTP attempts --------------------------------------------------------------------------

interface Server {
  readonly address: string
  readonly port: number
}

const servers = new Map<string, Server>()

/** Host and port of the base URL (the scheme's default port when none is written). */
const serverOf = (baseUrl: string): Server =>
  memo(servers, baseUrl, () => {
    // The options checked the URL already; telemetry must never be what makes a request fail.
    if (!URL.canParse(baseUrl)) return { address: "unknown", port: 0 }
    const url = new URL(baseUrl)
    const port = url.port === "" ? (url.protocol === "http:" ? 80 : 443) : Number(url.port)
    return { address: url.hostname.replace(/^\[(.*)\]$/, "$1"), port }
  })

const spanNames = new Map<string, string>()

/** The conventions' span name for a client: `{method} {url.template}`. */
const attemptName = (method: string, route: string): string =>
  memo(spanNames, `${method} ${route}`, () => `${method} ${route}`)

/**
 * Tink's request id, as Tink documents it (`X-Request-ID`, `X-Tink-Request-ID` as fallback).
 * Only a short token of id characters is kept: the header comes from the network.
 */
const requestIdOf = (response: HttpClientResponse.HttpClientResponse): string | undefined => {
  const value = response.headers["x-request-id"] ?? response.headers["x-tink-request-id"]
  return value !== undefined && /^[A-Za-z0-9._:-]{1,128}$/.test(value) ? value : undefined
}

type Labels = ReadonlyArray<MetricLabel.MetricLabel>

/** By server, then route, then method, then outcome: each key is a string the caller already holds. */
const durationLabels = new Map<Server, Map<string, Map<string, Map<string | number | undefined, Labels>>>>()

const tableIn = <K, V>(table: Map<K, V>, key: K, make: () => V): V => {
  let value = table.get(key)
  if (value === undefined) {
    value = make()
    table.set(key, value)
  }
  return value
}

/**
 * The histogram's labels. One array per combination, reused: Effect finds a metric's hook by the
 * labels array's identity, so a reused array skips a registry lookup. Found through maps keyed
 * by the strings the attempt already holds (route templates are constants), so that a request
 * builds no key string. Routes and methods are templates; the cap is a backstop.
 */
const labelsOf = (
  method: string,
  route: string,
  server: Server,
  status: number | undefined,
  errorType: string | undefined
): Labels => {
  if (durationLabels.size > 16) durationLabels.clear()
  const routes = tableIn(durationLabels, server, () => new Map())
  if (routes.size >= 512) routes.clear()
  const outcomes = tableIn(tableIn(routes, route, () => new Map()), method, () => new Map())
  const outcome = errorType === undefined ? status : status === undefined ? errorType : `${status} ${errorType}`
  return tableIn(outcomes, outcome, () => {
    const labels = [
      // Where @effect/opentelemetry takes the instrument's unit from (see TinkMetrics.httpDuration).
      MetricLabel.make("unit", "s"),
      MetricLabel.make("http.request.method", method),
      MetricLabel.make("url.template", route),
      MetricLabel.make("server.address", server.address),
      MetricLabel.make("server.port", String(server.port))
    ]
    if (status !== undefined) labels.push(MetricLabel.make("http.response.status_code", String(status)))
    if (errorType !== undefined) labels.push(MetricLabel.make("error.type", errorType))
    return labels
  })
}

/** `error.type` of an ended attempt: the error's tag, the defect's class, or `interrupted`. */
const exitErrorType = (exit: Exit.Exit<unknown, unknown>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) return errorTypeOf(failure.value)
  const defect = Cause.dieOption(exit.cause)
  if (Option.isSome(defect)) return defect.value instanceof globalThis.Error ? defect.value.name : "_OTHER"
  return "interrupted"
}

/**
 * Records an ended attempt's duration and gives what its span is annotated with at the end
 * (status, Tink's request id, `error.type`), or `undefined` when nobody records spans. Both ways of
 * attempting (`attempt`, `attemptEnd`) end an attempt through it.
 */
const attemptEnded = (
  info: { readonly method: string; readonly route: string },
  server: Server,
  clock: Clock.Clock,
  startedAt: number,
  exit: Exit.Exit<unknown, unknown>,
  status: number | undefined,
  requestId: string | undefined,
  traced: boolean
): Record<string, unknown> | undefined => {
  const errorType = exitErrorType(exit)
  TinkMetrics.httpDuration.unsafeUpdate(
    secondsOf(clock) - startedAt,
    labelsOf(info.method, info.route, server, status, errorType)
  )
  if (!traced) return undefined
  const annotations: Record<string, unknown> = {}
  if (status !== undefined) annotations["http.response.status_code"] = status
  if (requestId !== undefined) annotations["tink.request_id"] = requestId
  if (errorType !== undefined) annotations["error.type"] = errorType
  return annotations
}

/**
 * The attributes of an attempt's span, by the conventions for HTTP clients (`attempt`'s own).
 */
const attemptAttributes = (
  info: { readonly method: string; readonly route: string },
  server: Server,
  resends: number
): Record<string, unknown> => {
  const attributes: Record<string, unknown> = {
    "http.request.method": info.method,
    "url.template": info.route,
    "server.address": server.address,
    "server.port": server.port
  }
  if (resends > 0) attributes["http.request.resend_count"] = resends
  return attributes
}

/**
 * Opens the span of an attempt the caller runs as one handler (see `attemptEnd`), as `attempt`
 * would open it, but not as the current span: nothing runs inside an attempt but the transport,
 * so the caller sends its trace headers itself, and `attemptEnd` ends it.
 *
 * @internal
 */
export const attemptSpan = (
  info: { readonly method: string; readonly route: string },
  baseUrl: string
): Effect.Effect<Tracer.Span> =>
  Effect.makeSpan(attemptName(info.method, info.route), {
    kind: "client",
    attributes: attemptAttributes(info, serverOf(baseUrl), 0),
    captureStackTrace: false
  })

/**
 * How an attempt run as one handler (no exit handler of its own: its transport reports
 * interruption, see `ExecuteWithin`) records its end, as `attempt` records it on exit: its
 * duration, and its span's status, Tink's request id, `error.type` and end (a failure as a
 * stand-in) when it has one. The first report counts.
 *
 * @internal
 */
export const attemptEnd = (
  info: { readonly method: string; readonly route: string },
  baseUrl: string,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  span: Tracer.Span | undefined
): (
  exit: Exit.Exit<unknown, unknown>,
  response: HttpClientResponse.HttpClientResponse | undefined
) => void => {
  const server = serverOf(baseUrl)
  const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
  const startedAt = secondsOf(clock)
  let ended = false
  return (exit, response) => {
    if (ended) return
    ended = true
    const requestId = span === undefined || response === undefined ? undefined : requestIdOf(response)
    const annotations = attemptEnded(
      info,
      server,
      clock,
      startedAt,
      exit,
      response?.status,
      requestId,
      span !== undefined
    )
    if (span === undefined || annotations === undefined || span.status._tag === "Ended") return
    for (const [key, value] of Object.entries(annotations)) span.attribute(key, value)
    endSpan(span, fiber, clock, exit, span.name)
  }
}

const liveClock = Context.get(DefaultServices.liveServices, Clock.Clock)

/**
 * The clock's time in seconds, for durations. The live clock's is `performance.now()`, the same
 * monotonic time as its nanoseconds without a BigInt per reading. The TestClock's nanoseconds
 * throw once its time has a fraction of a millisecond (retry jitter makes one): its milliseconds
 * are used then.
 */
const secondsOf = (clock: Clock.Clock): number => {
  if (clock === liveClock) return performance.now() / 1e3
  try {
    return Number(clock.unsafeCurrentTimeNanos()) / 1e9
  } catch {
    return clock.unsafeCurrentTimeMillis() / 1e3
  }
}

/**
 * The span and the duration of each HTTP attempt, by the conventions for HTTP clients. `run` is
 * the attempt: it calls `observe` with the response when one arrives, so the status and Tink's
 * request id are recorded whether the attempt then succeeds or fails. Effect.retry runs the
 * returned effect again for each retry, which is how `http.request.resend_count` counts.
 *
 * @internal
 */
export const attempt = <A, E>(
  info: { readonly method: string; readonly route: string },
  baseUrl: string,
  run: (observe: (response: HttpClientResponse.HttpClientResponse) => void) => Effect.Effect<A, E>,
  sentBefore = 0
): Effect.Effect<A, E> => {
  const server = serverOf(baseUrl)
  let sent = sentBefore
  return Effect.withFiberRuntime((fiber) => {
    const resends = sent++
    const traced = isTracing(fiber)
    const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    let status: number | undefined
    let requestId: string | undefined
    const observe = (response: HttpClientResponse.HttpClientResponse) => {
      status = response.status
      if (traced) requestId = requestIdOf(response)
    }
    const startedAt = secondsOf(clock)
    const timed = Effect.onExit(run(observe), (exit) => {
      const annotations = attemptEnded(info, server, clock, startedAt, exit, status, requestId, traced)
      return annotations === undefined ? Effect.void : Effect.annotateCurrentSpan(annotations)
    })
    if (!traced) return timed
    const name = attemptName(info.method, info.route)
    return spanned(timed, name, name, { kind: "client", attributes: attemptAttributes(info, server, resends) })
  })
}

// --- Cache metrics --------------------------------------------------------------------------

const resourceLabels = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()

/** A resource name is a lowercase word (`credentials`, `user`); anything else is reported as `other`. */
const resourceName = /^[a-z][a-z-]{0,30}[a-z]$/

/**
 * The cache counters' labels for a resource, one reused array per resource (see `labelsOf`).
 *
 * @internal
 */
export const cacheLabels = (resource: string | undefined): ReadonlyArray<MetricLabel.MetricLabel> =>
  // Looked up before `memo`, so a hit allocates no closure.
  resourceLabels.get(resource ?? "other") ?? memo(resourceLabels, resource ?? "other", () => [
    MetricLabel.make("resource", resource !== undefined && resourceName.test(resource) ? resource : "other")
  ])

/**
 * The resource a path reads, for labels: the segment after the version (`/api/v1/credentials/...`
 * and `/data/v2/accounts` give `credentials` and `accounts`), which in Tink's API names a kind of
 * data, never an instance; a segment that is not a lowercase word is `other`.
 *
 * @internal
 */
export const resourceOf = (path: string): string =>
  resources.get(path) ?? memo(resources, path, () => scanResource(path))

/**
 * Keyed by what reads pass: a route template, or a constant path (`/api/v1/credentials/list`),
 * whose string hash V8 keeps, so a hit pays a map lookup. Paths with ids and no template only
 * churn the table, which is capped.
 */
const resources = new Map<string, string>()

const scanResource = (path: string): string => {
  const first = path.indexOf("/", 1)
  if (first === -1) return word(path, 1, path.length)
  const second = path.indexOf("/", first + 1)
  if (!isVersion(path, first + 1, second === -1 ? path.length : second)) return word(path, 1, first)
  if (second === -1) return "other"
  const third = path.indexOf("/", second + 1)
  return word(path, second + 1, third === -1 ? path.length : third)
}

/** `v` and digits, e.g. `v1`. */
const isVersion = (path: string, from: number, to: number): boolean => {
  if (to - from < 2 || path.charCodeAt(from) !== 118) return false
  for (let i = from + 1; i < to; i++) {
    const c = path.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}

/** The segment if it is a lowercase word (letters, inner hyphens, at most 32), else `other`. */
const word = (path: string, from: number, to: number): string => {
  if (to - from < 2 || to - from > 32) return "other"
  for (let i = from; i < to; i++) {
    const c = path.charCodeAt(i)
    const letter = c >= 97 && c <= 122
    if (!letter && !(c === 45 && i > from && i < to - 1)) return "other"
  }
  return path.slice(from, to)
}

const always = () => true

/**
 * The transport's settings as tink-effect uses it, as fiber refs for each attempt: the
 * platform's own client span is off, since it would record full URLs with ids (the attempt span
 * above replaces it), and trace headers go to Tink only when asked for (trace ids are ours, not
 * Tink's). Set in the attempt's own fiber (see `Timeout.timeoutFail`) rather than with
 * `HttpClient.withTracerDisabledWhen` and `withTracerPropagation`, whose `Effect.locally`
 * cost about 6 µs per request.
 *
 * @internal
 */
export const transportLocals = (propagate: boolean): ReadonlyArray<readonly [FiberRef.FiberRef<any>, unknown]> => [
  [HttpClient.currentTracerPropagation, propagate],
  [HttpClient.currentTracerDisabledWhen, always]
]
