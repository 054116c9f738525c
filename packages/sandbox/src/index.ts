/**
 * A Tink-compatible fake API as an Effect HttpApp, with an in-memory test layer. The HTTP server
 * is the `@tink-effect/sandbox/SandboxServer` module (it needs `@effect/platform-node`); the
 * tink-effect client over the sandbox in one line, with seeding helpers, is
 * `@tink-effect/sandbox/SandboxClient` (it needs `@tink-effect/core`).
 *
 * @since 0.1.0
 */
export * as Sandbox from "./Sandbox.js"
