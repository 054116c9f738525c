/**
 * The end-user session an operation acts for: a user access token and, when known, the user's
 * id. The session decides the cache scope, so one user's responses are never served to another.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

/**
 * A user session with its cache scope already derived, so the cache-hit path does no hashing.
 *
 * @since 0.1.0
 * @category models
 */
export interface Session {
  readonly userId: string | undefined
  readonly accessToken: Redacted.Redacted<string>
  /** `u:<userId>`, or `t:<sha256 of the token>` when the user id is unknown. */
  readonly scope: string
  /** A short hash of the scope, for spans and logs, which must not show a user id in clear. */
  readonly scopeHash: string
  /**
   * A hash of the token. Cached entries are kept per token within the user's scope: a session
   * that names a user id but holds another token (or a made-up one) never reads what that
   * user's token fetched, since Tink never saw it. Invalidation still covers the whole user.
   */
  readonly tokenHash: string
}

/**
 * The session in context; operations on a user's data require it.
 *
 * @since 0.1.0
 * @category tags
 */
export class TinkUser extends Context.Tag("@tink-effect/core/TinkUser")<TinkUser, Session>() {}

/**
 * The cache scope of a known user id.
 *
 * @since 0.1.0
 * @category scope
 */
export const scopeOfUser = (userId: string): string => `u:${userId}`

/**
 * The scope every read of a session without a user id depends on. Such a session cannot be tied
 * to a user, so no mutation knows it should reach it: every mutation invalidates this scope too,
 * and the cache drops what those sessions hold. Sessions that name their user never read it.
 *
 * @since 0.2.0
 * @category scopes
 */
export const unnamedSessionsScope = "t:*"
const sha256Hex = (text: string): Effect.Effect<string> =>
  Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))).pipe(
    Effect.map((digest) => Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join(""))
  )

/**
 * Builds a session. Without a user id the scope is a hash of the token: the token itself never
 * becomes part of a cache key, and two tokens never share a scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly userId?: string | undefined
  readonly accessToken: Redacted.Redacted<string>
}): Effect.Effect<Session> =>
  Effect.gen(function*() {
    const tokenDigest = yield* sha256Hex(Redacted.value(options.accessToken))
    const scope = options.userId !== undefined ? scopeOfUser(options.userId) : `t:${tokenDigest}`
    const scopeHash = (yield* sha256Hex(scope)).slice(0, 16)
    return {
      userId: options.userId,
      accessToken: options.accessToken,
      scope,
      scopeHash,
      tokenHash: tokenDigest.slice(0, 32)
    }
  })
