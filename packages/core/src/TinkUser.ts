/**
 * The end-user session an operation acts for: a user access token and, when known, the user's
 * id. The session decides the cache scope, so one user's responses are never served to another.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Redacted from "effect/Redacted"
import * as InFiber from "./internal/inFiber.js"
import { sha256Hex } from "./internal/sha256.js"

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
  /**
   * The partition entries are kept in instead of `tokenHash`, for a token the library minted
   * itself with the app's credentials for exactly this user and scopes (`UserSessions` in
   * `@tink-effect/users`): every session minted for them, in every instance, then shares
   * entries, the library vouching that each token is that user's. `make` never sets it and no
   * operation takes it from a caller: a session built by hand leaves it out, or it could read
   * what other tokens fetched.
   */
  readonly partition?: string | undefined
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

/**
 * Token digests by the `Redacted` object that holds the token: a session rebuilt from the same
 * object (a handler that keeps it per user) skips the hash. Weak, so it never keeps a token alive.
 */
const tokenDigests = new WeakMap<Redacted.Redacted<string>, string>()

/**
 * Scope hashes by scope. A scope is a user id or a token digest, never a secret; bounded by
 * starting over when full, since recomputing one is cheap.
 */
const scopeHashes = new Map<string, string>()
const scopeHashesCapacity = 4096

const scopeHashOf = (scope: string): string => {
  let hash = scopeHashes.get(scope)
  if (hash === undefined) {
    hash = sha256Hex(scope).slice(0, 16)
    if (scopeHashes.size >= scopeHashesCapacity) scopeHashes.clear()
    scopeHashes.set(scope, hash)
  }
  return hash
}

/**
 * Builds a session at once, without an effect: a synchronous hash of the token (memoized per
 * `Redacted` object) and of the scope, so a session per request costs about a microsecond.
 * Without a user id the scope is a hash of the token: the token itself never becomes part of a
 * cache key, and two tokens never share a scope.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeSync = (options: {
  readonly userId?: string | undefined
  readonly accessToken: Redacted.Redacted<string>
}): Session => {
  const accessToken = options.accessToken
  let tokenDigest = tokenDigests.get(accessToken)
  if (tokenDigest === undefined) {
    tokenDigest = sha256Hex(Redacted.value(accessToken))
    tokenDigests.set(accessToken, tokenDigest)
  }
  const userId = options.userId
  const scope = userId !== undefined ? scopeOfUser(userId) : `t:${tokenDigest}`
  return { userId, accessToken, scope, scopeHash: scopeHashOf(scope), tokenHash: tokenDigest.slice(0, 32) }
}

/**
 * Builds a session, as an effect (see `makeSync`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly userId?: string | undefined
  readonly accessToken: Redacted.Redacted<string>
}): Effect.Effect<Session> => Effect.sync(() => makeSync(options))

/**
 * Provides the session to an effect, as `Effect.provideService` does. A read built by
 * `TinkClient.getForUser` (each of `Users`' reads, called as is) takes the session directly and
 * leaves the fiber's context alone: changing it is most of what a session per request costs.
 *
 * @since 0.2.0
 * @category sessions
 */
export const provide: {
  (session: Session): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, Exclude<R, TinkUser>>
  <A, E, R>(effect: Effect.Effect<A, E, R>, session: Session): Effect.Effect<A, E, Exclude<R, TinkUser>>
} = dual(2, <A, E, R>(effect: Effect.Effect<A, E, R>, session: Session): Effect.Effect<A, E, Exclude<R, TinkUser>> => {
  const withSession: InFiber.WithSession<A, E, Exclude<R, TinkUser>> | undefined = InFiber.withSession.get(effect)
  return withSession !== undefined ? withSession(session) : Effect.provideService(effect, TinkUser, session)
})
