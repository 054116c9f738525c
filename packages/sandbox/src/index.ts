/**
 * A Tink-compatible fake API as an Effect HttpApp, with an in-memory test layer.
 *
 * @since 0.1.0
 */
export * as Sandbox from "./Sandbox.js"
