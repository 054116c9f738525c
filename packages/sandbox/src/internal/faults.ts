import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
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
  readonly socket: { readonly destroy: () => void }
}

const hasSocket = (source: unknown): source is Destroyable =>
  typeof source === "object" && source !== null && "socket" in source &&
  typeof (source as { socket?: { destroy?: unknown } }).socket?.destroy === "function"

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
  fault: Exclude<Fault, { readonly _tag: "Latency" }>,
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
    case "Drop": {
      const source = incoming.source
      if (hasSocket(source)) {
        // Served over a socket: really drop it, then stop; the server's write goes nowhere.
        return Effect.zipRight(Effect.sync(() => source.socket.destroy()), Effect.interrupt)
      }
      return Effect.die(new ConnectionDropped())
    }
  }
}
