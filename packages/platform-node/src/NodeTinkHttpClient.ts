/**
 * A lean `HttpClient` over undici: one keep-alive connection pool per origin, each request sent
 * with undici's `dispatch` and its answer read whole, with no stream, promise or span of its own
 * in between. It costs about what undici's own `request()` costs, where the platform's
 * `NodeHttpClient.layerUndici` costs about twice that. Interrupting a request aborts it (the
 * connection is closed, as undici does for an aborted request), and so does the Tink client's
 * per-attempt timeout, kept here by one timer on the request rather than by a fiber beside it
 * (under the live clock; under a TestClock the client keeps it). It is the transport `NodeTink`
 * uses; `NodeHttpClient.layerUndici`, or any `HttpClient`, still works with `TinkClient.layer`.
 *
 * Bodies are read whole before the response is returned: it suits JSON APIs such as Tink's, not
 * downloads.
 *
 * @since 0.2.0
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { IncomingHttpHeaders } from "node:http"
import { Client, type Dispatcher } from "undici"
import { BufferedResponse } from "./internal/bufferedResponse.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** Connections per origin at most; default: no limit (undici's default). */
  readonly connections?: number | undefined
  /** How long an idle connection is kept open for the next request. Default 60 seconds. */
  readonly keepAliveTimeout?: Duration.DurationInput | undefined
  /** How long establishing a connection may take. Default 10 seconds (undici's). */
  readonly connectTimeout?: Duration.DurationInput | undefined
}

const interrupted = new Error("The request was interrupted")

/**
 * Where the Tink client looks for a transport's own deadline-keeping `execute` (its
 * `ExecuteWithin`, registered under this same name by `@tink-effect/core`). With it, an attempt
 * needs no fiber of its own for its timeout; other transports, and this one wrapped by
 * `HttpClient`'s combinators, have none and are timed by the client as before.
 */
const withinKey = Symbol.for("@tink-effect/core/HttpClient/executeWithin")

type Body = Exclude<Dispatcher.DispatchOptions["body"], undefined>

/** The body as undici takes it, and a content type for the ones that carry their own. */
const bodyOf = (
  request: HttpClientRequest.HttpClientRequest
): Body | Effect.Effect<{ readonly body: Body; readonly contentType?: string | undefined }> => {
  const body = request.body
  switch (body._tag) {
    case "Empty":
      return null
    case "Uint8Array":
      return body.body
    case "Raw":
      return body.body as Body
    case "FormData": {
      // undici's dispatch takes bytes, not FormData: encode it as fetch would, boundary included.
      const encoded = new Response(body.formData)
      return Effect.promise(async () => ({
        body: new Uint8Array(await encoded.arrayBuffer()),
        contentType: encoded.headers.get("content-type") ?? undefined
      }))
    }
    case "Stream":
      return Effect.map(NodeStream.toReadable(body.stream), (readable) => ({ body: readable }))
  }
}

const invalidUrl = (request: HttpClientRequest.HttpClientRequest, cause: unknown) =>
  new HttpClientError.RequestError({ request, reason: "InvalidUrl", cause })

/**
 * Builds the client; its connection pools are closed with the scope.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<HttpClient.HttpClient, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => new Map<string, Connections>()),
      (pools) =>
        Effect.promise(() =>
          Promise.allSettled(
            Array.from(pools.values(), (connections) => connections.slots.map((slot) => slot.client.destroy())).flat()
          )
        )
    ),
    (pools) => fromPools(pools, options)
  )

/** One undici `Client` (one connection, kept alive) and the requests it carries now. */
interface Slot {
  readonly client: Client
  inFlight: number
}

/**
 * The connections to one origin. undici's own `Pool` counts a connection busy until a tick after
 * its answer ended, so a caller that sends its next request at once gets a second connection;
 * counting our own requests keeps sequential requests on one.
 */
class Connections {
  readonly slots: Array<Slot> = []
  constructor(
    readonly origin: string,
    readonly options: Client.Options,
    readonly limit: number
  ) {}

  /** An idle connection, else a new one, else (at the limit) the least busy, which queues it. */
  take(): Slot {
    let least: Slot | undefined
    for (const slot of this.slots) {
      if (slot.inFlight === 0) return slot
      if (least === undefined || slot.inFlight < least.inFlight) least = slot
    }
    if (least === undefined || this.slots.length < this.limit) {
      least = { client: new Client(this.origin, this.options), inFlight: 0 }
      this.slots.push(least)
    }
    return least
  }
}

const fromPools = (pools: Map<string, Connections>, options: Options): HttpClient.HttpClient => {
  const limit = options.connections ?? Infinity
  const clientOptions: Client.Options = {
    keepAliveTimeout: Duration.toMillis(options.keepAliveTimeout ?? Duration.seconds(60)),
    connect: { timeout: Duration.toMillis(options.connectTimeout ?? Duration.seconds(10)) },
    // Time limits are the caller's, set with Effect (the Tink client has its own per attempt).
    headersTimeout: 0,
    bodyTimeout: 0
  }

  /**
   * Sends the request and reads its answer whole. With a time limit (`millis`, finite), a timer
   * aborts the request at the deadline and fails with `onTimeout()`: the Tink client's attempts
   * keep their deadline here instead of in a fiber of their own (see `withinKey`).
   */
  const send = <E = never>(
    request: HttpClientRequest.HttpClientRequest,
    connections: Connections,
    path: string,
    body: Body,
    contentType: string | undefined,
    millis: number,
    onTimeout: (() => E) | undefined,
    onInterrupt: (() => void) | undefined
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError | E> =>
    Effect.async((resume) => {
      const slot = connections.take()
      slot.inFlight++
      let done = false
      const finish = () => {
        if (!done) {
          done = true
          slot.inFlight--
        }
      }
      let controller: Dispatcher.DispatchController | undefined
      let stopped = false
      let timer: ReturnType<typeof setTimeout> | undefined
      let status = 0
      let headers: IncomingHttpHeaders = {}
      const chunks: Array<Buffer> = []
      const stop = () => {
        stopped = true
        if (timer !== undefined) clearTimeout(timer)
        controller?.abort(interrupted)
      }
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(started) {
          controller = started
          if (stopped) started.abort(interrupted)
        },
        onResponseStart(_, statusCode, responseHeaders) {
          status = statusCode
          headers = responseHeaders
        },
        onResponseData(_, chunk) {
          chunks.push(chunk)
        },
        onResponseEnd() {
          const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
          finish()
          if (stopped) return
          if (timer !== undefined) clearTimeout(timer)
          resume(Effect.succeed(new BufferedResponse(request, status, headers, bytes)))
        },
        onResponseError(_, cause) {
          finish()
          if (stopped) return
          if (timer !== undefined) clearTimeout(timer)
          resume(Effect.fail(
            status === 0
              ? new HttpClientError.RequestError({ request, reason: "Transport", cause })
              : new HttpClientError.ResponseError({
                request,
                response: new BufferedResponse(request, status, headers, new Uint8Array(0)),
                reason: "Decode",
                cause
              })
          ))
        }
      }
      try {
        slot.client.dispatch({
          path,
          method: request.method as Dispatcher.HttpMethod,
          headers: contentType === undefined ? request.headers : { ...request.headers, "content-type": contentType },
          body
        }, handler)
      } catch (cause) {
        finish()
        resume(Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause })))
        return
      }
      if (onTimeout !== undefined && millis !== Infinity && !stopped && !done) {
        timer = setTimeout(() => {
          if (stopped) return
          // As an interrupted attempt: the request is aborted (its connection closed), and the
          // caller learns of the deadline once that is done.
          stop()
          resume(Effect.fail(onTimeout()))
        }, millis)
      }
      return Effect.sync(() => {
        stop()
        onInterrupt?.()
      })
    })

  const execute = <E = never>(
    request: HttpClientRequest.HttpClientRequest,
    millis: number = Infinity,
    onTimeout?: () => E,
    onInterrupt?: () => void
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError | E> => {
    const url = request.url
    const scheme = url.startsWith("https://") ? 8 : url.startsWith("http://") ? 7 : -1
    if (scheme < 0) return Effect.fail(invalidUrl(request, new TypeError("only http and https URLs are supported")))
    let end = scheme
    while (end < url.length && url[end] !== "/" && url[end] !== "?" && url[end] !== "#") end++
    const origin = url.slice(0, end)
    let pool = pools.get(origin)
    if (pool === undefined) {
      // A new origin is checked once, then has its pool for as long as the client lives.
      try {
        const parsed = new URL(origin)
        if (parsed.username !== "" || parsed.password !== "") throw new TypeError("credentials in the URL")
        pool = new Connections(origin, clientOptions, limit)
      } catch (cause) {
        return Effect.fail(invalidUrl(request, cause))
      }
      pools.set(origin, pool)
    }
    const target = pool
    const hash = url.indexOf("#", end)
    let path = hash < 0 ? url.slice(end) : url.slice(end, hash)
    if (path === "" || path[0] === "?") path = "/" + path
    if (request.urlParams.length > 0) {
      path += (path.includes("?") ? "&" : "?") + UrlParams.toString(request.urlParams)
    }
    const body = bodyOf(request)
    if (!Effect.isEffect(body)) return send(request, target, path, body, undefined, millis, onTimeout, onInterrupt)
    // Encoding the body takes part of the time allowed.
    const deadline = performance.now() + millis
    const encodedThenSent = Effect.flatMap(body, (encoded) =>
      send(
        request,
        target,
        path,
        encoded.body,
        encoded.contentType,
        Math.max(0, deadline - performance.now()),
        onTimeout,
        undefined
      ))
    // Interrupted while the body is encoded or sent: reported once, whichever it was.
    return onInterrupt === undefined
      ? encodedThenSent
      : Effect.onInterrupt(encodedThenSent, () => Effect.sync(onInterrupt))
  }

  const client = HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
    (requestEffect) =>
      Effect.flatMap(requestEffect, (request) =>
        Effect.withFiberRuntime((fiber) => {
          // Trace headers as the platform's client sends them: when tracing is on for this request.
          if (
            fiber.getFiberRef(HttpClient.currentTracerPropagation) &&
            fiber.getFiberRef(FiberRef.currentTracerEnabled) &&
            !fiber.getFiberRef(HttpClient.currentTracerDisabledWhen)(request)
          ) {
            const span = fiber.currentSpan
            if (span !== undefined && span._tag === "Span") {
              return execute(HttpClientRequest.setHeaders(request, HttpTraceContext.toHeaders(span)))
            }
          }
          return execute(request)
        })),
    Effect.succeed
  )
  // The Tink client's attempts go this way (see `withinKey`): the request as given, with the
  // attempt's deadline kept by the request's own timer.
  Object.defineProperty(client, withinKey, { value: execute })
  return client
}

/**
 * The client as a layer, with the given options.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<HttpClient.HttpClient> =>
  Layer.scoped(HttpClient.HttpClient, make(options))

/**
 * The client as a layer, with the default options.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer: Layer.Layer<HttpClient.HttpClient> = layerWith({})
