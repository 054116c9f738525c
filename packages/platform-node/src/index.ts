/**
 * @since 0.1.0
 */
export * as NodeTink from "./NodeTink.js"

/**
 * @since 0.2.0
 */
export * as RedisResponseStore from "./RedisResponseStore.js"

/**
 * @since 0.2.0
 */
export * as NodeTinkHttpClient from "./NodeTinkHttpClient.js"
