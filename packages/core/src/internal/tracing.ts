import * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"

/**
 * Every span and span attribute tink-effect records is made here, so what a trace shows (and
 * that it never shows an id, a token or a URL) is decided in one place. Spans and metric labels
 * carry route templates (`/api/v1/credentials/{id}`) and a short hash of the cache scope only.
 */

const operationNames = new Map<string, string>()

/** `tink.users.<operation>`, built once per operation rather than per call. */
const operationName = (operation: string): string => {
  let name = operationNames.get(operation)
  if (name === undefined) {
    name = `tink.users.${operation}`
    operationNames.set(operation, name)
  }
  return name
}

/** How a read met the cache, for reads that reached Tink (hits and joined reads open no span). */
export type CacheOutcome = "miss" | "bypass"

/**
 * The span of one operation. Reads served from the cache open none: in Effect 3 a span costs
 * several times a hit, so hits are counted in `TinkMetrics` instead.
 *
 * @internal
 */
export const operation = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options: {
    readonly operation: string | undefined
    readonly scopeHash?: string | undefined
    readonly cache?: CacheOutcome | undefined
  }
): Effect.Effect<A, E, R> => {
  if (options.operation === undefined) return effect
  const attributes: Record<string, string> = {}
  if (options.cache !== undefined) attributes["tink.cache.outcome"] = options.cache
  if (options.scopeHash !== undefined) attributes["tink.scope.hash"] = options.scopeHash
  return Effect.withSpan(effect, operationName(options.operation), { captureStackTrace: false, attributes })
}

/**
 * The span of one HTTP attempt, named by its route template rather than its URL.
 *
 * @internal
 */
export const attempt = <A, E>(
  effect: Effect.Effect<A, E>,
  info: { readonly method: string; readonly route: string }
): Effect.Effect<A, E> =>
  Effect.withSpan(effect, "tink.http", {
    kind: "client",
    captureStackTrace: false,
    attributes: { "http.request.method": info.method, "tink.route": info.route }
  })

/** @internal */
export const annotateStatus = (status: string): Effect.Effect<void> =>
  Effect.annotateCurrentSpan("http.response.status_code", status)

/** @internal */
export const annotateRetry = (retry: number): Effect.Effect<void> => Effect.annotateCurrentSpan("tink.retries", retry)

/** @internal */
export const annotateInvalidated: Effect.Effect<void> = Effect.annotateCurrentSpan("tink.cache.outcome", "invalidated")

/**
 * The transport as tink-effect uses it: the platform's own client span is off, since it would
 * record full URLs with ids (`tink.http` replaces it), and trace headers go to Tink only when
 * asked for (trace ids are ours, not Tink's).
 *
 * @internal
 */
export const transport = (http: HttpClient.HttpClient, propagate: boolean): HttpClient.HttpClient =>
  http.pipe(HttpClient.withTracerPropagation(propagate), HttpClient.withTracerDisabledWhen(() => true))
