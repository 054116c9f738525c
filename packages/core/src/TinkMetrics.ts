/**
 * The metrics tink-effect records, as Effect Metrics: export them with any Effect metrics
 * backend (e.g. @effect/opentelemetry). Labels never carry ids, tokens or secrets: only the
 * HTTP method, a route template and a status.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/**
 * Reads served from the cache. Counted without a span: a span costs more than the hit itself.
 *
 * @since 0.1.0
 * @category metrics
 */
export const cacheHits = Metric.counter("tink_cache_hits_total", {
  description: "Reads served from the response cache",
  incremental: true
})

/**
 * Reads that went to Tink.
 *
 * @since 0.1.0
 * @category metrics
 */
export const cacheMisses = Metric.counter("tink_cache_misses_total", {
  description: "Reads that went to Tink",
  incremental: true
})

/**
 * Reads that joined an identical read already in flight.
 *
 * @since 0.1.0
 * @category metrics
 */
export const cacheCoalesced = Metric.counter("tink_cache_coalesced_total", {
  description: "Reads that shared an identical read in flight",
  incremental: true
})

/**
 * Scope invalidations (generation bumps) after mutations.
 *
 * @since 0.1.0
 * @category metrics
 */
export const cacheInvalidations = Metric.counter("tink_cache_invalidations_total", {
  description: "Cache scopes invalidated after mutations",
  incremental: true
})

/**
 * Failures of the shared store (Redis down or slow), each served as a miss or kept pending.
 *
 * @since 0.1.0
 * @category metrics
 */
export const cacheStoreErrors = Metric.counter("tink_cache_store_errors_total", {
  description: "Cache store failures, served as misses or retried in the background",
  incremental: true
})

/**
 * Retries of requests to Tink.
 *
 * @since 0.1.0
 * @category metrics
 */
export const httpRetries = Metric.counter("tink_http_retries_total", {
  description: "Requests to Tink that were retried",
  incremental: true
})

/**
 * Duration of each attempt to Tink in milliseconds, labelled by method, route template and
 * status (or the error case when there was no response).
 *
 * @since 0.1.0
 * @category metrics
 */
export const httpDuration = Metric.histogram(
  "tink_http_request_duration_ms",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 16 }),
  "Duration of each attempt to Tink in milliseconds"
)
