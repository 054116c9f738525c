import * as Effect from "effect/Effect"
import type { Ctx } from "./context.js"
import { type ApiFailure, fail } from "./failure.js"
import type { TokenRecord } from "./store.js"

/** @internal A user token whose user is known, for handlers that act on that user's data. */
export interface UserToken extends TokenRecord {
  readonly userId: string
}

/**
 * @internal
 * Checks the bearer token. Missing, unknown or expired tokens are 401 (API reference,
 * Introduction, "Authentication"); a valid token of the wrong kind or without the scope is 403
 * ("The access token is missing a required scope"), except where an endpoint documents another
 * status for it: the grant endpoints list 401 ("isn't allowed to use the scope") and no 403.
 */
export const requireToken = (
  ctx: Ctx,
  kind: TokenRecord["kind"],
  scope: string,
  forbiddenStatus: 401 | 403 = 403
): Effect.Effect<TokenRecord, ApiFailure> => {
  const header = ctx.incoming.headers["authorization"]
  const match = header === undefined ? null : /^bearer\s+(\S+)\s*$/i.exec(header)
  if (match === null) {
    return Effect.fail(fail(401, "UNAUTHENTICATED", "A bearer token is required"))
  }
  const record = ctx.store.token(match[1]!, ctx.now)
  if (record === undefined) {
    return Effect.fail(fail(401, "UNAUTHENTICATED", "The access token is invalid or expired"))
  }
  if (record.kind !== kind) {
    return Effect.fail(fail(forbiddenStatus, "FORBIDDEN", `This endpoint needs a ${kind} access token`))
  }
  if (!record.scopes.includes(scope)) {
    return Effect.fail(fail(forbiddenStatus, "FORBIDDEN", `The access token lacks the scope ${scope}`))
  }
  return Effect.succeed(record)
}

/** @internal A user token with the scope, whose user still exists. */
export const requireUser = (ctx: Ctx, scope: string): Effect.Effect<UserToken, ApiFailure> =>
  Effect.flatMap(
    requireToken(ctx, "user", scope),
    (record) =>
      record.userId !== null && ctx.store.user(record.userId) !== undefined
        ? Effect.succeed(record as UserToken)
        : Effect.fail(fail(401, "UNAUTHENTICATED", "The user of this access token no longer exists"))
  )

/** @internal Tink writes scopes comma-separated; spaces are tolerated, empties dropped. */
export const parseScopes = (scope: string): Array<string> =>
  Array.from(new Set(scope.split(/[,\s]+/).filter((part) => part !== "")))
