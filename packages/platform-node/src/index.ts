/**
 * @since 0.1.0
 */
export * as NodeTink from "./NodeTink.js"

/**
 * @since 0.1.0
 */
export * as ResponseCache from "./ResponseCache.js"

/**
 * TEMPORARY, to be removed before 0.2.0 ships: kept only so test files still being moved compile.
 * Import `@tink-effect/sandbox/SandboxServer` instead.
 *
 * @deprecated Moved to `@tink-effect/sandbox/SandboxServer`.
 * @since 0.1.0
 */
export * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
