import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Fault } from "../Sandbox.js"
import { ApiFailure } from "./failure.js"
import type { Incoming } from "./incoming.js"

/**
 * @internal
 * The defect an in-memory Drop dies with; the test client turns it into a transport error, as a
 * reset connection would be.
 */
export class ConnectionDropped {
  readonly _tag = "ConnectionDropped"
  readonly message = "The sandbox dropped the connection (Drop fault)"
}

/** @internal */
export const isConnectionDropped = (u: unknown): u is ConnectionDropped => u instanceof ConnectionDropped

interface Destroyable {
  readonly socket: {
    readonly destroy: () => void
    readonly write: (data: Uint8Array, callback: (error?: Error | null) => void) => boolean
  }
}

const hasSocket = (source: unknown): source is Destroyable =>
  typeof source === "object" && source !== null && "socket" in source &&
  typeof (source as { socket?: { destroy?: unknown } }).socket?.destroy === "function"

/** A pre-processing fault (answers instead of the endpoint); the others spoil the endpoint's answer. @internal */
export type AnswerFault = Exclude<
  Fault,
  { readonly _tag: "Latency" } | { readonly _tag: "Truncated" } | {
    readonly _tag: "Drop"
    readonly afterProcessing: true
  }
>

/** @internal Faults that let the endpoint run (and change state) before spoiling its answer. */
export const isAfterProcessing = (fault: Fault): boolean =>
  fault._tag === "Truncated" || (fault._tag === "Drop" && fault.afterProcessing === true)

/** Drops the connection: really, over a socket; in memory, as a defect the test client maps to a transport error. */
const drop = (incoming: Incoming): Effect.Effect<never> => {
  const source = incoming.source
  if (hasSocket(source)) {
    // Served over a socket: really drop it, then stop; the server's write goes nowhere.
    return Effect.zipRight(Effect.sync(() => source.socket.destroy()), Effect.interrupt)
  }
  return Effect.die(new ConnectionDropped())
}

/** @internal The defect a truncated body fails with in memory; the client sees its body stream fail. */
export class BodyTruncated {
  readonly _tag = "BodyTruncated"
  readonly message = "The sandbox cut the body short (Truncated fault)"
}

const bodyBytes = (response: HttpServerResponse.HttpServerResponse): Uint8Array => {
  const body = response.body
  switch (body._tag) {
    case "Uint8Array":
      return body.body
    case "Raw":
      return typeof body.body === "string" ? new TextEncoder().encode(body.body) : new Uint8Array(0)
    default:
      return new Uint8Array(0)
  }
}

const noBodyStatuses: ReadonlySet<number> = new Set([204, 205, 304])

const statusText: Record<number, string> = { 200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found" }

/**
 * @internal
 * Spoils the endpoint's answer after it ran: `Drop` (after processing) loses it; `Truncated`
 * sends the head with the whole body's Content-Length (at least 64 bytes, so an empty body is cut
 * too), half of the body, then closes; for a status that has no body (204) it sends half of the
 * head. In memory the body stream fails midway, or (no body) the connection is dropped.
 */
export const spoil = (
  fault: Fault,
  response: HttpServerResponse.HttpServerResponse,
  incoming: Incoming
): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
  if (fault._tag !== "Truncated") return drop(incoming)
  const bytes = bodyBytes(response)
  // A status without a body (204) cannot be cut in its body: the head itself is cut instead.
  const bodiless = noBodyStatuses.has(response.status)
  const half = bytes.subarray(0, Math.floor(bytes.length / 2))
  const contentType = response.body._tag === "Empty" ? undefined : response.body.contentType
  const headers: Record<string, string> = { ...response.headers }
  if (contentType !== undefined) headers["content-type"] = contentType
  headers["content-length"] = String(Math.max(bytes.length, 64))
  const source = incoming.source
  if (hasSocket(source)) {
    const head = [`HTTP/1.1 ${response.status} ${statusText[response.status] ?? "Status"}`]
    for (const [name, value] of Object.entries(headers)) head.push(`${name}: ${value}`)
    head.push("connection: close", "", "")
    const headBytes = new TextEncoder().encode(head.join("\r\n"))
    const data = bodiless ? headBytes.subarray(0, Math.floor(headBytes.length / 2)) : new Uint8Array(
      headBytes.length + half.length
    )
    if (!bodiless) {
      data.set(headBytes, 0)
      data.set(half, headBytes.length)
    }
    // Written straight to the socket, before the server has sent anything; the socket is closed
    // once the bytes are out, so nothing the server writes afterwards can complete the body.
    return Effect.async<never>((resume) => {
      source.socket.write(data, () => {
        source.socket.destroy()
        resume(Effect.interrupt)
      })
    })
  }
  if (bodiless) return Effect.die(new ConnectionDropped())
  return Effect.succeed(HttpServerResponse.stream(
    Stream.concat(Stream.succeed(half), Stream.die(new BodyTruncated())),
    { status: response.status, headers, ...(contentType === undefined ? {} : { contentType }) }
  ))
}

const defaultCodes: Record<number, string> = {
  429: "TOO_MANY_REQUESTS",
  500: "INTERNAL_SERVER_ERROR",
  502: "BAD_GATEWAY",
  503: "SERVICE_UNAVAILABLE",
  504: "GATEWAY_TIMEOUT"
}

const largeBody = (bytes: number): Uint8Array => {
  // `{"padding":"aaa…"}`, exactly `bytes` long, still valid JSON; below the frame size, `{}` plus spaces.
  const open = new TextEncoder().encode("{\"padding\":\"")
  const close = new TextEncoder().encode("\"}")
  const size = Math.max(2, Math.floor(bytes))
  if (size < open.length + close.length) {
    const small = new Uint8Array(size).fill(0x20)
    small[0] = 0x7b
    small[1] = 0x7d
    return small
  }
  const out = new Uint8Array(size).fill(0x61)
  out.set(open, 0)
  out.set(close, size - close.length)
  return out
}

/**
 * @internal
 * The answer a fault gives instead of the endpoint's. Error statuses fail with an ApiFailure so
 * they get the same JSON error body (and request id) as a real rejection.
 */
export const respond = (
  fault: AnswerFault,
  incoming: Incoming
): Effect.Effect<HttpServerResponse.HttpServerResponse, ApiFailure> => {
  switch (fault._tag) {
    case "Status":
      return Effect.fail(
        new ApiFailure({
          status: fault.status,
          errorCode: fault.errorCode ?? defaultCodes[fault.status] ?? "SANDBOX_FAULT",
          errorMessage: fault.errorMessage ?? `Injected fault: status ${fault.status}`,
          headers: fault.retryAfter === undefined ? undefined : { "retry-after": fault.retryAfter }
        })
      )
    case "MalformedJson":
      return Effect.succeed(HttpServerResponse.text("{\"credentials\": [", { contentType: "application/json" }))
    case "WrongShape":
      return Effect.succeed(HttpServerResponse.unsafeJson(
        incoming.path.endsWith("/credentials/list") ? { credentials: 42 } : { unexpected: true }
      ))
    case "Html":
      return Effect.succeed(HttpServerResponse.text(
        `<!DOCTYPE html><html><head><title>${fault.status}</title></head>` +
          `<body><h1>${fault.status} Error</h1><p>The upstream server failed.</p></body></html>`,
        { status: fault.status, contentType: "text/html; charset=utf-8" }
      ))
    case "LargeBody":
      return Effect.succeed(HttpServerResponse.uint8Array(largeBody(fault.bytes), { contentType: "application/json" }))
    case "Drop":
      return drop(incoming)
    case "Body":
      return Effect.succeed(HttpServerResponse.text(fault.body, {
        status: fault.status ?? 200,
        contentType: fault.contentType ?? "application/json",
        headers: fault.headers ?? {}
      }))
  }
}
