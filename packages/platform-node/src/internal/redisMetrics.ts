import * as Metric from "effect/Metric"

/** @internal */
export const invalidationFallbacks = Metric.counter("tink_cache_invalidation_fallbacks_total", {
  description:
    "Invalidations Redis refused to write (e.g. OOM under noeviction), applied by deleting the scope's generation key instead",
  incremental: true
})

/** @internal */
export const invalidationsLost = Metric.counter("tink_cache_invalidations_lost_total", {
  description: "Scopes whose pending invalidation could not be delivered to Redis before the cache closed",
  incremental: true
})

/** @internal */
export const valuesRefused = Metric.counter("tink_cache_values_refused_total", {
  description:
    "Redis values that did not open under the cache keys (moved to another key, truncated, tampered with, under a rotated-out key, or stored in clear) and were read as misses",
  incremental: true
})
