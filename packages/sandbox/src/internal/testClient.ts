import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { isConnectionDropped } from "./faults.js"

type Body = Uint8Array | string | FormData | undefined

const encodeError = (request: HttpClientRequest.HttpClientRequest, cause: unknown) =>
  new HttpClientError.RequestError({ request, reason: "Encode", cause })

const concat = (chunks: Chunk.Chunk<Uint8Array>): Uint8Array => {
  const parts = Chunk.toReadonlyArray(chunks)
  const out = new Uint8Array(parts.reduce((size, part) => size + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

const bodyOf = (request: HttpClientRequest.HttpClientRequest): Effect.Effect<Body, HttpClientError.RequestError> => {
  const body = request.body
  switch (body._tag) {
    case "Empty":
      return Effect.succeed(undefined)
    case "Uint8Array":
      return Effect.succeed(body.body)
    case "Raw":
      return typeof body.body === "string" || body.body instanceof Uint8Array
        ? Effect.succeed(body.body)
        : Effect.fail(encodeError(request, "Only string and Uint8Array raw bodies are supported in memory"))
    case "FormData":
      return Effect.succeed(body.formData)
    case "Stream":
      return Effect.mapBoth(Stream.runCollect(body.stream), {
        onFailure: (cause) => encodeError(request, cause),
        onSuccess: concat
      })
  }
}

const toWebRequest = (
  request: HttpClientRequest.HttpClientRequest,
  url: URL,
  body: Body
): Effect.Effect<Request, HttpClientError.RequestError> =>
  Effect.try({
    try: () => {
      const headers = new globalThis.Headers()
      for (const [name, value] of Object.entries(request.headers)) {
        // The web Request computes its own length; a stale one would corrupt the body.
        if (name.toLowerCase() !== "content-length") headers.set(name, value)
      }
      const hasBody = body !== undefined && request.method !== "GET" && request.method !== "HEAD"
      return new Request(url, { method: request.method, headers, ...(hasBody ? { body } : {}) })
    },
    catch: (cause) => encodeError(request, cause)
  })

/**
 * @internal
 * An HttpClient that runs `app` in memory. The app runs in the calling fiber (HttpClient.make runs
 * this function there), so the caller's Clock, TestClock included, drives latency faults, token
 * expiry and credential status. A Drop fault surfaces as a Transport error, like a reset socket.
 */
export const make = (app: HttpApp.Default): HttpClient.HttpClient =>
  HttpClient.make((request, url) =>
    Effect.gen(function*() {
      const body = yield* bodyOf(request)
      const webRequest = yield* toWebRequest(request, url, body)
      const response = yield* app.pipe(
        Effect.provideService(HttpServerRequest.HttpServerRequest, HttpServerRequest.fromWeb(webRequest)),
        Effect.catchSomeDefect((defect) =>
          isConnectionDropped(defect)
            ? Option.some(
              Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause: defect }))
            )
            : Option.none()
        )
      )
      return HttpClientResponse.fromWeb(request, HttpServerResponse.toWeb(response))
    })
  )
