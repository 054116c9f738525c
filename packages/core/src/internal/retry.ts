import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as TinkError from "../TinkError.js"
import * as TinkMetrics from "../TinkMetrics.js"
import type * as Options from "./options.js"
import * as Tracing from "./tracing.js"

/**
 * Whether a failure may be retried. Reads (and requests marked idempotent) are retried on 408,
 * 429, 5xx, timeouts and transport failures. A mutation is retried only when Tink certainly did
 * not process it: a 429, or a connection that never reached Tink; repeating one Tink may have
 * carried out could, for example, create a user twice.
 *
 * @internal
 */
export const isRetryable = (error: TinkError.TinkError, idempotent: boolean): boolean => {
  switch (error._tag) {
    case "TinkRateLimitError":
      return true
    case "TinkNetworkError":
      return idempotent || !error.mayHaveReachedTink
    case "TinkTimeoutError":
      return idempotent
    case "TinkApiError":
      return idempotent && error.status !== undefined && (error.status === 408 || error.status >= 500)
    default:
      return false
  }
}

/** The wait Tink asked for, if any. */
const retryAfter = (error: TinkError.TinkError): Duration.Duration | undefined =>
  error._tag === "TinkRateLimitError" ? error.retryAfter : undefined

/**
 * The retry policy: at most `maxRetries` retries of the failures `isRetryable` allows, after an
 * exponential backoff from `retryBaseDelay` with ±20 % jitter, capped at `maxRetryDelay`. A
 * `Retry-After` is honoured (the wait is at least that long); one longer than `maxRetryDelay`
 * fails at once rather than holding the caller. Each retry is counted in `TinkMetrics` and on
 * the operation's span.
 *
 * @internal
 */
export const schedule = (
  options: Options.Resolved,
  idempotent: boolean
): Schedule.Schedule<unknown, TinkError.TinkError> =>
  Schedule.exponential(options.retryBaseDelay).pipe(
    Schedule.jittered,
    Schedule.intersect(Schedule.recurs(options.maxRetries)),
    Schedule.intersect(Schedule.identity<TinkError.TinkError>()),
    Schedule.whileInput((error: TinkError.TinkError) => {
      if (!isRetryable(error, idempotent)) return false
      const wait = retryAfter(error)
      return wait === undefined || Duration.lessThanOrEqualTo(wait, options.maxRetryDelay)
    }),
    Schedule.modifyDelayEffect(([[, retries], error], backoff) => {
      const capped = Duration.min(backoff, options.maxRetryDelay)
      const wait = retryAfter(error)
      TinkMetrics.httpRetries.unsafeUpdate(1, [])
      return Effect.as(Tracing.annotateRetry(retries + 1), wait === undefined ? capped : Duration.max(capped, wait))
    })
  )
