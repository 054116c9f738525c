/**
 * @since 0.1.0
 */
export * as CachePolicy from "./CachePolicy.js"

/**
 * @since 0.1.0
 */
export * as ResponseCache from "./ResponseCache.js"

/**
 * @since 0.1.0
 */
export * as TinkClient from "./TinkClient.js"

/**
 * @since 0.1.0
 */
export * as TinkError from "./TinkError.js"

/**
 * @since 0.1.0
 */
export * as TinkUser from "./TinkUser.js"

/**
 * @since 0.1.0
 */
export * as AccessToken from "./AccessToken.js"

/**
 * @since 0.1.0
 */
export * as TinkMetrics from "./TinkMetrics.js"

/**
 * @since 0.2.0
 */
export * as TinkWebhooks from "./TinkWebhooks.js"
