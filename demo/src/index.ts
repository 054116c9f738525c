/**
 * The repository's demo programs (private, not published).
 *
 * @since 0.1.0
 */
export * as Lifecycle from "./Lifecycle.js"
