import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import type { RecordedRequest } from "../Sandbox.js"
import { type ApiFailure, badRequest } from "./failure.js"

/**
 * @internal
 * A request reduced to what the endpoints look at, read once (the body included) so it can be
 * recorded, matched against faults and handled without reading the stream twice.
 */
export interface Incoming extends RecordedRequest {
  readonly search: URLSearchParams
  /** The server request's `source`: a Node IncomingMessage when served over a socket. */
  readonly source: unknown
}

/** @internal */
export const read: Effect.Effect<Incoming, never, HttpServerRequest.HttpServerRequest> = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const { path, search } = parseTarget(request.url)
  // A body that cannot be read (client gone) is treated as empty: the endpoint then rejects it.
  const body = yield* Effect.orElseSucceed(request.text, () => "")
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    headers[name.toLowerCase()] = String(value)
  }
  const contentType = headers["content-type"]?.split(";")[0]?.trim().toLowerCase() || null
  return {
    method: request.method.toUpperCase(),
    path,
    query: Array.from(search.entries()),
    search,
    headers,
    contentType,
    body,
    source: request.source
  }
})

const parseTarget = (url: string): { readonly path: string; readonly search: URLSearchParams } => {
  try {
    // Any host will do: the sandbox routes on the path only.
    const parsed = new URL(url, "http://sandbox.invalid")
    return { path: parsed.pathname, search: parsed.searchParams }
  } catch {
    const index = url.indexOf("?")
    return index === -1 ? { path: url, search: new URLSearchParams() } : {
      path: url.slice(0, index),
      search: new URLSearchParams(url.slice(index + 1))
    }
  }
}

/** @internal The recorded view, without the parsed helpers. */
export const toRecorded = (incoming: Incoming): RecordedRequest => ({
  method: incoming.method,
  path: incoming.path,
  query: incoming.query,
  headers: incoming.headers,
  contentType: incoming.contentType,
  body: incoming.body
})

const isJsonType = (contentType: string | null): boolean =>
  contentType !== null && (contentType === "application/json" || contentType.endsWith("+json"))

/** @internal OAuth endpoints take form-urlencoded bodies only; JSON is a client bug Tink rejects. */
export const formBody = (incoming: Incoming): Effect.Effect<URLSearchParams, ApiFailure> =>
  incoming.contentType === "application/x-www-form-urlencoded"
    ? Effect.succeed(new URLSearchParams(incoming.body))
    : Effect.fail(badRequest("invalid_request", "Expected an application/x-www-form-urlencoded body"))

/**
 * @internal
 * One form parameter. Repeating a parameter is rejected (as OAuth requires) rather than silently
 * picking one value.
 */
export const formParam = (form: URLSearchParams, name: string): Effect.Effect<string | undefined, ApiFailure> => {
  const values = form.getAll(name)
  if (values.length > 1) return Effect.fail(badRequest("invalid_request", `Parameter ${name} is repeated`))
  const value = values[0]
  return Effect.succeed(value === undefined || value === "" ? undefined : value)
}

/** @internal A JSON object body; `optional` accepts an empty body as `{}`. */
export const jsonObject = (
  incoming: Incoming,
  options: { readonly optional: boolean }
): Effect.Effect<Record<string, unknown>, ApiFailure> => {
  if (incoming.body.trim() === "") {
    return options.optional ? Effect.succeed({}) : Effect.fail(badRequest("BAD_REQUEST", "A JSON body is required"))
  }
  if (!isJsonType(incoming.contentType)) {
    return Effect.fail(badRequest("BAD_REQUEST", "Expected an application/json body"))
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(incoming.body)
  } catch {
    return Effect.fail(badRequest("BAD_REQUEST", "The body is not valid JSON"))
  }
  return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
    ? Effect.succeed(parsed as Record<string, unknown>)
    : Effect.fail(badRequest("BAD_REQUEST", "The body must be a JSON object"))
}
