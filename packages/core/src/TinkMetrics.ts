/**
 * The metrics tink-effect records, as Effect Metrics: export them with any Effect metrics
 * backend (e.g. @effect/opentelemetry). Labels never carry ids, tokens or secrets: the cache
 * counters are labelled by `resource` (the kind of data read: `credentials`, `user`, ...), and
 * the HTTP histogram by OpenTelemetry's attributes for HTTP clients (method, route template,
 * server, status, error type).
 *
 * A hit rate per resource is `hits / (hits + misses + coalesced)` over the series with the same
 * `resource` label (`ResponseCache.stats` gives the overall one).
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/**
 * Reads served from the cache, labelled by `resource`. Counted without a span: a span costs
 * more than the hit itself.
 *
 * @since 0.1.0
 * @category metrics
 */
export const cacheHits = Metric.counter("tink_cache_hits_total", {
  description: "Reads served from the response cache",
  incremental: true
})

/**
 * Reads that went to Tink, labelled by `resource`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const cacheMisses = Metric.counter("tink_cache_misses_total", {
  description: "Reads that went to Tink",
  incremental: true
})

/**
 * Reads that joined an identical read already in flight, labelled by `resource`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const cacheCoalesced = Metric.counter("tink_cache_coalesced_total", {
  description: "Reads that shared an identical read in flight",
  incremental: true
})

/**
 * Scope invalidations (generation bumps) after mutations. Not labelled: an invalidation covers
 * every resource of the scope.
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
 * OpenTelemetry's `http.client.request.duration`: the duration of each attempt to Tink in
 * seconds, with the bucket boundaries the conventions advise, labelled by
 * `http.request.method`, `url.template` (`/api/v1/credentials/{id}`), `server.address`,
 * `server.port`, `http.response.status_code` (when a response arrived) and `error.type` (the
 * error's tag, e.g. `TinkNotFoundError`, when the attempt failed). It replaces 0.1's
 * `tink_http_request_duration_ms`.
 *
 * Effect metrics have no unit: each series also carries a `unit` tag (`s`), which is where
 * @effect/opentelemetry reads the instrument's unit from, so exporters name it as the
 * conventions do. Label values are strings
 * (Effect's labels are), the status code included.
 *
 * @since 0.1.0
 * @category metrics
 */
export const httpDuration = Metric.histogram(
  "http.client.request.duration",
  MetricBoundaries.fromIterable([0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]),
  "Duration of HTTP client requests."
)
