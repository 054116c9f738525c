/**
 * @since 0.1.0
 */
export * as Lifecycle from "./Lifecycle.js"

/**
 * @since 0.1.0
 */
export * as NodeTink from "./NodeTink.js"

/**
 * @since 0.1.0
 */
export * as ResponseCache from "./ResponseCache.js"

/**
 * @since 0.1.0
 */
export * as SandboxServer from "./SandboxServer.js"
