/**
 * A Tink-compatible fake API as an Effect HttpApp, with an in-memory test layer. The HTTP server
 * is the `@tink-effect/sandbox/SandboxServer` module (it needs `@effect/platform-node`).
 *
 * @since 0.1.0
 */
export * as Sandbox from "./Sandbox.js"
