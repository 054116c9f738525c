import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import type { ClientCredentials } from "../Sandbox.js"
import { parseScopes, requireToken } from "./auth.js"
import type { Ctx, Handler } from "./context.js"
import { type ApiFailure, badRequest, fail, notFound } from "./failure.js"
import { formBody, formParam } from "./incoming.js"
import type { UserRecord } from "./store.js"

/** Authorization codes are short lived, as Tink's are. */
const codeTtlMillis = 10 * 60 * 1000

const authenticateClient = (ctx: Ctx, form: URLSearchParams): Effect.Effect<ClientCredentials, ApiFailure> =>
  Effect.gen(function*() {
    const clientId = yield* formParam(form, "client_id")
    const clientSecret = yield* formParam(form, "client_secret")
    if (clientId === undefined) return yield* badRequest("invalid_request", "client_id is required")
    const client = ctx.config.clients.find((candidate) => candidate.clientId === clientId)
    if (client === undefined || client.clientSecret !== clientSecret) {
      return yield* fail(401, "invalid_client", "Client authentication failed")
    }
    return client
  })

/** @internal POST /api/v1/oauth/token */
export const token: Handler = (ctx) =>
  Effect.gen(function*() {
    const form = yield* formBody(ctx.incoming)
    const client = yield* authenticateClient(ctx, form)
    const grantType = yield* formParam(form, "grant_type")
    if (grantType === undefined) return yield* badRequest("invalid_request", "grant_type is required")
    if (grantType === "client_credentials") {
      const requested = yield* formParam(form, "scope")
      const scopes = requested === undefined ? [...client.scopes] : parseScopes(requested)
      const refused = scopes.filter((scope) => !client.scopes.includes(scope))
      if (scopes.length === 0 || refused.length > 0) {
        return yield* badRequest("invalid_scope", `Scope not allowed for this client: ${refused.join(",")}`)
      }
      const ttl = ctx.config.clientTokenTtlSeconds
      const accessToken = ctx.store.issueToken({
        kind: "client",
        clientId: client.clientId,
        userId: null,
        scopes,
        expiresAt: ctx.now + ttl * 1000
      })
      return tokenResponse(accessToken, ttl, scopes, null)
    }
    if (grantType === "authorization_code") {
      const code = yield* formParam(form, "code")
      if (code === undefined) return yield* badRequest("invalid_request", "code is required")
      const grant = ctx.store.takeGrant(code)
      if (
        grant === undefined || grant.expiresAt <= ctx.now || grant.clientId !== client.clientId ||
        ctx.store.user(grant.userId) === undefined
      ) {
        return yield* badRequest("invalid_grant", "The authorization code is invalid, expired or already used")
      }
      const ttl = ctx.config.userTokenTtlSeconds
      const accessToken = ctx.store.issueToken({
        kind: "user",
        clientId: client.clientId,
        userId: grant.userId,
        scopes: grant.scopes,
        expiresAt: ctx.now + ttl * 1000
      })
      return tokenResponse(accessToken, ttl, grant.scopes, grant.idHint)
    }
    return yield* badRequest("unsupported_grant_type", `Unsupported grant_type: ${grantType}`)
  })

const tokenResponse = (
  accessToken: string,
  expiresIn: number,
  scopes: ReadonlyArray<string>,
  idHint: string | null
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson({
    access_token: accessToken,
    token_type: "bearer",
    expires_in: expiresIn,
    scope: scopes.join(","),
    // Tink sends the key always: null unless the code came from a delegated grant.
    id_hint: idHint
  })

const grantFor = (delegate: boolean): Handler => (ctx) =>
  Effect.gen(function*() {
    const caller = yield* requireToken(ctx, "client", "authorization:grant", 401)
    const form = yield* formBody(ctx.incoming)
    const userId = yield* formParam(form, "user_id")
    const externalUserId = yield* formParam(form, "external_user_id")
    const scope = yield* formParam(form, "scope")
    if ((userId === undefined) === (externalUserId === undefined)) {
      return yield* badRequest("BAD_REQUEST", "Exactly one of user_id and external_user_id is required")
    }
    if (scope === undefined || parseScopes(scope).length === 0) {
      return yield* badRequest("BAD_REQUEST", "scope is required")
    }
    const client = ctx.config.clients.find((candidate) => candidate.clientId === caller.clientId)
    const refused = parseScopes(scope).filter((wanted) => client === undefined || !client.scopes.includes(wanted))
    if (refused.length > 0) {
      // Documented: 401 when the client "isn't allowed to use the scope".
      return yield* fail(401, "FORBIDDEN", `Scope not allowed for this client: ${refused.join(",")}`)
    }
    let idHint: string | null = null
    if (delegate) {
      idHint = (yield* formParam(form, "id_hint")) ?? null
      const actorClientId = yield* formParam(form, "actor_client_id")
      if (idHint === null || actorClientId === undefined) {
        return yield* badRequest("BAD_REQUEST", "id_hint and actor_client_id are required")
      }
    }
    const user: UserRecord | undefined = userId !== undefined
      ? ctx.store.user(userId)
      : ctx.store.userByExternalId(externalUserId!)
    if (user === undefined) return yield* notFound("User not found")
    const code = ctx.store.addGrant({
      clientId: caller.clientId,
      userId: user.userId,
      scopes: parseScopes(scope),
      idHint,
      expiresAt: ctx.now + codeTtlMillis
    })
    return HttpServerResponse.unsafeJson({ code })
  })

/** @internal POST /api/v1/oauth/authorization-grant */
export const authorizationGrant: Handler = grantFor(false)

/** @internal POST /api/v1/oauth/authorization-grant/delegate */
export const delegateGrant: Handler = grantFor(true)
