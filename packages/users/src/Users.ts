/**
 * The eight operations of Tink's Users API as Effect programs. Reads of a user's data are
 * cached per user; every mutation invalidates that user's cache through `TinkClient`, so no
 * caller has to remember to.
 *
 * @since 0.1.0
 */
import { AccessToken, TinkClient, TinkError, TinkUser } from "@tink-effect/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Ids from "./Ids.js"
import * as Schemas from "./Schemas.js"

const marketPattern = /^[A-Z]{2}$/
const localePattern = /^[a-z]{2}_[A-Z]{2}$/
/**
 * Tink's scopes are tokens such as `credentials:read`, `balance-refresh` and
 * `balance-refresh:readonly`, joined by commas. Any such list is Tink's to judge; we only refuse
 * what is not a list of tokens (and so could not mean what it says in a form body).
 */
const scopePattern = /^[A-Za-z0-9._:-]+(,[A-Za-z0-9._:-]+)*$/
const maxScopeLength = 2048

/** ISO-8859-1 without its control characters: Tink requires `id_hint` in ISO-8859-1. */
const idHintPattern = /^[\x20-\x7e\xa0-\xff]{1,256}$/

/**
 * Tink Link's own client id, the `actorClientId` a delegated grant needs for Tink Link to use the
 * code (Tink's permanent-users guide). Tink does not check the value, so a wrong one only fails
 * later, in Tink Link.
 *
 * @since 0.2.0
 * @category authorization
 */
export const tinkLinkActorClientId = "df05e4b379934cd09963197cc855bfe9"

/** Tags the failure of one step of a composite operation, e.g. the grant of `deleteUser`. */
const inStep = (step: string) => (error: TinkError.TinkError) => TinkError.annotate(error, { step })

const reject = (method: string, path: string, errorMessage: string) =>
  Effect.fail(new TinkError.TinkValidationError({ method, path, errorMessage }))

/** Untyped callers may pass anything: a missing options object is bad input, never a crash. */
const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null

const credentialPath = (id: Ids.CredentialId) => `/api/v1/credentials/${encodeURIComponent(id)}`

const validateCredentialId = (credentialId: string, method: string, pathTemplate: string) =>
  Ids.validate(Ids.CredentialId, credentialId, { field: "credentialId", method, path: pathTemplate })

/**
 * Options of `createUser`; only `market` (ISO 3166-1 alpha-2) is required.
 *
 * @since 0.1.0
 * @category models
 */
export interface CreateUserOptions {
  readonly market: string
  /** e.g. `en_US`; Tink defaults it from the market. */
  readonly locale?: string | undefined
  readonly externalUserId?: string | undefined
  /** Temporary users are deleted by Tink after 24 hours. */
  readonly retentionClass?: "permanent" | "temporary" | undefined
}

/**
 * Creates a Tink user with an app token (`user:create`). Never retried once it may have reached
 * Tink, so a timeout cannot create the user twice; there is nothing to invalidate.
 *
 * @since 0.1.0
 * @category users
 */
export const createUser = (
  options: CreateUserOptions
): Effect.Effect<Schemas.CreatedUser, TinkError.TinkError, TinkClient.TinkClient> =>
  Effect.gen(function*() {
    const path = "/api/v1/user/create"
    if (!isRecord(options)) return yield* reject("POST", path, "options must be an object")
    if (typeof options.market !== "string" || !marketPattern.test(options.market)) {
      return yield* reject("POST", path, "market must be an ISO 3166-1 alpha-2 code such as SE")
    }
    if (options.locale !== undefined && (typeof options.locale !== "string" || !localePattern.test(options.locale))) {
      return yield* reject("POST", path, "locale must look like en_US")
    }
    if (options.retentionClass !== undefined && !["permanent", "temporary"].includes(options.retentionClass)) {
      return yield* reject("POST", path, "retentionClass must be permanent or temporary")
    }
    const externalUserId = options.externalUserId === undefined
      ? undefined
      : yield* Ids.validate(Ids.ExternalUserId, options.externalUserId, {
        field: "externalUserId",
        method: "POST",
        path
      })
    const client = yield* TinkClient.TinkClient
    return yield* client.post(path, {
      operation: "createUser",
      auth: TinkClient.appAuth("user:create"),
      schema: Schemas.CreatedUser,
      body: {
        _tag: "Json",
        value: {
          market: options.market,
          locale: options.locale,
          external_user_id: externalUserId,
          retention_class: options.retentionClass
        }
      }
    })
  })

/**
 * Options of `createAuthorization`. Give exactly one of `userId` and `externalUserId`; giving
 * `idHint` and `actorClientId` makes it a delegated grant (for Tink Link).
 *
 * @since 0.1.0
 * @category models
 */
export type CreateAuthorizationOptions =
  & (
    | { readonly userId: string; readonly externalUserId?: undefined }
    | { readonly externalUserId: string; readonly userId?: undefined }
  )
  & {
    /** Comma-separated scopes the code will grant, e.g. `credentials:read,credentials:write`. */
    readonly scope: string
    /** Shown to the user in Tink Link; ISO-8859-1 text, 1-256 characters. */
    readonly idHint?: string | undefined
    /** For Tink Link: `tinkLinkActorClientId`. */
    readonly actorClientId?: string | undefined
  }

/**
 * Creates an authorization grant for a user with an app token (`authorization:grant`). The code
 * is `Redacted`: whoever holds it can get a token for the user.
 *
 * @since 0.1.0
 * @category authorization
 */
export const createAuthorization = (
  options: CreateAuthorizationOptions
): Effect.Effect<Schemas.AuthorizationCode, TinkError.TinkError, TinkClient.TinkClient> =>
  Effect.gen(function*() {
    if (!isRecord(options)) {
      return yield* reject("POST", "/api/v1/oauth/authorization-grant", "options must be an object")
    }
    const delegated = options.idHint !== undefined || options.actorClientId !== undefined
    const path = delegated ? "/api/v1/oauth/authorization-grant/delegate" : "/api/v1/oauth/authorization-grant"
    const hasUserId = options.userId !== undefined
    if (hasUserId === (options.externalUserId !== undefined)) {
      return yield* reject("POST", path, "give exactly one of userId and externalUserId")
    }
    if (
      typeof options.scope !== "string" || options.scope.length > maxScopeLength || !scopePattern.test(options.scope)
    ) {
      return yield* reject("POST", path, "scope must be comma-separated scopes such as credentials:read")
    }
    if (delegated && (options.idHint === undefined || options.actorClientId === undefined)) {
      return yield* reject("POST", path, "a delegated grant needs both idHint and actorClientId")
    }
    if (delegated && (typeof options.idHint !== "string" || !idHintPattern.test(options.idHint))) {
      return yield* reject("POST", path, "idHint must be 1-256 characters of ISO-8859-1 text, as Tink requires")
    }
    if (delegated && !Ids.isBodyText(options.actorClientId, 256)) {
      return yield* reject("POST", path, "actorClientId must be 1-256 characters without control characters")
    }
    const actorClientId = delegated ? options.actorClientId : undefined
    const user = hasUserId
      ? { user_id: yield* Ids.validate(Ids.UserId, options.userId, { field: "userId", method: "POST", path }) }
      : {
        external_user_id: yield* Ids.validate(Ids.ExternalUserId, options.externalUserId, {
          field: "externalUserId",
          method: "POST",
          path
        })
      }
    const client = yield* TinkClient.TinkClient
    return yield* client.post(path, {
      operation: "createAuthorization",
      auth: TinkClient.appAuth("authorization:grant"),
      schema: Schemas.AuthorizationCode,
      sensitive: true,
      // Tink's 401 here means no access to the user or scope: a new app token would not help.
      renewOn401: false,
      body: {
        _tag: "Form",
        value: { ...user, scope: options.scope, id_hint: options.idHint, actor_client_id: actorClientId }
      }
    })
  })

/**
 * Exchanges an authorization code for a user access token, authenticating with the app's
 * client id and secret. The code is single-use, so a request that may have reached Tink is not
 * repeated.
 *
 * @since 0.1.0
 * @category authorization
 */
export const getUserAccessToken = (
  code: Redacted.Redacted<string> | string
): Effect.Effect<AccessToken.AccessToken, TinkError.TinkError, TinkClient.TinkClient> =>
  Effect.gen(function*() {
    const path = "/api/v1/oauth/token"
    const secretCode = Redacted.isRedacted(code) ? code : Redacted.make(code)
    const text = Redacted.value(secretCode)
    if (typeof text !== "string" || text.length === 0 || text.length > 2048 || !/^[\x21-\x7e]+$/.test(text)) {
      return yield* reject("POST", path, "authorization code is malformed")
    }
    const client = yield* TinkClient.TinkClient
    return yield* client.post(path, {
      operation: "getUserAccessToken",
      auth: TinkClient.noAuth,
      schema: AccessToken.AccessToken,
      sensitive: true,
      body: {
        _tag: "Form",
        value: {
          client_id: client.config.clientId,
          client_secret: client.config.clientSecret,
          grant_type: "authorization_code",
          code: secretCode
        }
      }
    })
  })

/**
 * Runs `f` with the client and session taken from context in one step: on a cache hit this and
 * the cache lookup are the only effect steps, which keeps hits within a few times a Map lookup.
 */
const sessionMismatchHint =
  "the session's access token belongs to another user than its userId: take both from the same token exchange"

/**
 * A session's user id is only the caller's word for whose token it holds; the `userId` Tink puts
 * on each credential says whose data it is. A mismatch returns nothing, so a session pairing one
 * user's id with another's token never shows (nor, through `ownerChecked`, changes) that data.
 */
const ownedBy =
  (user: TinkUser.Session, method: string, path: string) =>
  <A extends ReadonlyArray<Schemas.Credential>>(credentials: A): Effect.Effect<A, TinkError.TinkError> =>
    user.userId !== undefined &&
      credentials.some((credential) => credential.userId !== undefined && credential.userId !== user.userId)
      ? Effect.fail(new TinkError.TinkAuthenticationError({ method, path, hint: sessionMismatchHint }))
      : Effect.succeed(credentials)

const withSession = <A>(
  f: (
    client: TinkClient.Service,
    auth: TinkClient.Auth,
    user: TinkUser.Session
  ) => Effect.Effect<A, TinkError.TinkError>
): Effect.Effect<A, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser> =>
  Effect.contextWithEffect((context: Context.Context<TinkClient.TinkClient | TinkUser.TinkUser>) => {
    const user = Context.get(context, TinkUser.TinkUser)
    return f(Context.get(context, TinkClient.TinkClient), TinkClient.userAuth(user), user)
  })

/** The list body decoded straight to its array, so the cached value is what callers get. */
const CredentialArray = Schema.transform(Schemas.CredentialList, Schema.Array(Schema.typeSchema(Schemas.Credential)), {
  strict: true,
  decode: (list) => list.credentials,
  encode: (credentials) => ({ credentials })
})

/**
 * Lists the session user's credentials. Cached for 30 seconds per user: credential status
 * changes quickly during authentication.
 *
 * @since 0.1.0
 * @category credentials
 */
export const listCredentials = (): Effect.Effect<
  ReadonlyArray<Schemas.Credential>,
  TinkError.TinkError,
  TinkClient.TinkClient | TinkUser.TinkUser
> =>
  withSession((client, auth, user) =>
    Effect.flatMap(
      client.get("/api/v1/credentials/list", { operation: "listCredentials", auth, schema: CredentialArray }),
      ownedBy(user, "GET", "/api/v1/credentials/list")
    )
  )

/**
 * Gets one of the session user's credentials, cached for 30 seconds.
 *
 * @since 0.1.0
 * @category credentials
 */
export const getCredential = (
  credentialId: string
): Effect.Effect<Schemas.Credential, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser> =>
  Effect.flatMap(
    validateCredentialId(credentialId, "GET", "/api/v1/credentials/{id}"),
    (id) =>
      withSession((client, auth, user) =>
        Effect.flatMap(
          client.get(credentialPath(id), {
            operation: "getCredential",
            route: "/api/v1/credentials/{id}",
            auth,
            schema: Schemas.Credential
          }),
          (credential) => Effect.as(ownedBy(user, "GET", "/api/v1/credentials/{id}")([credential]), credential)
        )
      )
  )

/**
 * Before a session changes a credential, Tink's own record of it says whose it is (a cached
 * read): a session pairing one user's id with another user's token changes nothing. The record
 * is read on its own, never joined to a list in flight, so a slow read cannot hold a mutation. A
 * token that may not read credentials cannot be checked; Tink then judges it alone, and every
 * mutation still invalidates the named user and every session without a user id.
 */
const ownerChecked = <A>(
  credentialId: Ids.CredentialId,
  mutation: Effect.Effect<A, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser>
): Effect.Effect<A, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser> =>
  Effect.flatMap(TinkUser.TinkUser, (user) =>
    user.userId === undefined ? mutation : Effect.zipRight(
      Effect.catchIf(
        getCredential(credentialId),
        (error) => error._tag === "TinkAuthenticationError" && error.hint !== sessionMismatchHint,
        () => Effect.void
      ),
      mutation
    ))

/**
 * Deletes a credential (Tink answers 204) and invalidates the user's cached data.
 *
 * @since 0.1.0
 * @category credentials
 */
export const deleteCredential = (
  credentialId: string
): Effect.Effect<void, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser> =>
  Effect.flatMap(
    validateCredentialId(credentialId, "DELETE", "/api/v1/credentials/{id}"),
    (id) =>
      ownerChecked(
        id,
        withSession((client, auth) =>
          client.delete(credentialPath(id), { operation: "deleteCredential", route: "/api/v1/credentials/{id}", auth })
        )
      )
  )

/**
 * The data a refresh asks for: `items` (repeatable), and Tink's optional flags and body.
 *
 * @since 0.1.0
 * @category models
 */
export interface RefreshOptions {
  readonly items?: ReadonlyArray<string> | undefined
  readonly optIn?: boolean | undefined
  readonly authenticate?: boolean | undefined
  readonly appUri?: string | undefined
  readonly callbackUri?: string | undefined
}

const itemPattern = /^[A-Z_]{1,64}$/

/**
 * Starts a refresh of a credential from the bank (Tink answers 204) and invalidates the user's
 * cached data. Tink rejects a second refresh of a credential while one runs, so concurrent
 * calls for the same credential share one request.
 *
 * @since 0.1.0
 * @category credentials
 */
export const refreshCredential = (
  credentialId: string,
  options: RefreshOptions = {}
): Effect.Effect<void, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser> =>
  Effect.gen(function*() {
    const template = "/api/v1/credentials/{id}/refresh"
    const id = yield* validateCredentialId(credentialId, "POST", template)
    if (!isRecord(options)) return yield* reject("POST", template, "options must be an object")
    const items = options.items ?? []
    if (!Array.isArray(items) || !items.every((item) => typeof item === "string" && itemPattern.test(item))) {
      return yield* reject("POST", template, "items must be Tink item names: upper-case letters and underscores")
    }
    for (const flag of ["optIn", "authenticate"] as const) {
      if (options[flag] !== undefined && typeof options[flag] !== "boolean") {
        return yield* reject("POST", template, `${flag} must be a boolean`)
      }
    }
    for (const uri of ["appUri", "callbackUri"] as const) {
      if (options[uri] !== undefined && !Ids.isBodyText(options[uri], 2048)) {
        return yield* reject("POST", template, `${uri} must be 1-2048 characters without control characters`)
      }
    }
    const query: Array<readonly [string, string]> = items.map((item) => ["items", item] as const)
    if (options.optIn !== undefined) query.push(["optIn", String(options.optIn)])
    if (options.authenticate !== undefined) query.push(["authenticate", String(options.authenticate)])
    const body = options.appUri === undefined && options.callbackUri === undefined
      ? undefined
      : { _tag: "Json" as const, value: { appUri: options.appUri, callbackUri: options.callbackUri } }
    const client = yield* TinkClient.TinkClient
    const user = yield* TinkUser.TinkUser
    // Only identical refreshes share a request: same session, credential, query and body.
    return yield* client.shared(
      `refresh\u0000${user.scope}\u0000${user.tokenHash}\u0000${id}\u0000${JSON.stringify([query, body?.value])}`,
      ownerChecked(
        id,
        client.post(`${credentialPath(id)}/refresh`, {
          operation: "refreshCredential",
          route: "/api/v1/credentials/{id}/refresh",
          auth: TinkClient.userAuth(user),
          query,
          body
        })
      ).pipe(Effect.provideService(TinkUser.TinkUser, user), Effect.provideService(TinkClient.TinkClient, client))
    )
  })

/**
 * Deletes the Tink user `userId`, and nobody else, and invalidates everything cached for it.
 * Tink deletes the user of the token, and a session's user id is only the caller's word for whose
 * token it holds, so the session in context (if any) is never used: a `user:delete` token for
 * exactly this user is minted with the app's credentials (grant, then exchange). Needs an app
 * allowed `authorization:grant`.
 *
 * @since 0.1.0
 * @category users
 */
export const deleteUser = (userId: string): Effect.Effect<void, TinkError.TinkError, TinkClient.TinkClient> =>
  Effect.gen(function*() {
    const path = "/api/v1/user/delete"
    const id = yield* Ids.validate(Ids.UserId, userId, { field: "userId", method: "POST", path })
    const grant = yield* Effect.mapError(
      createAuthorization({ userId: id, scope: "user:delete" }),
      inStep("granting user:delete for deleteUser")
    )
    const token = yield* Effect.mapError(
      getUserAccessToken(grant.code),
      inStep("exchanging the user:delete code for deleteUser")
    )
    const user = yield* TinkUser.make({ userId: id, accessToken: token.accessToken })
    const client = yield* TinkClient.TinkClient
    // A session in context may hold this user's token under no user id (or another one): its
    // scopes go too, so it cannot keep reading the deleted user's data.
    const invalidates = [TinkUser.scopeOfUser(id)]
    const inContext = yield* Effect.serviceOption(TinkUser.TinkUser)
    if (Option.isSome(inContext)) invalidates.push(inContext.value.scope)
    yield* client.post(path, { auth: TinkClient.userAuth(user), invalidates })
  }).pipe(Effect.withSpan("tink.users.deleteUser", { captureStackTrace: false }))

/**
 * What identifies a user session: the user's access token and, when known, the user id.
 * Without the id the cache is scoped by a hash of the token, so it is never shared.
 *
 * @since 0.1.0
 * @category models
 */
export interface SessionOptions {
  readonly userId?: string | undefined
  readonly accessToken: Redacted.Redacted<string>
}

/**
 * Runs an effect as a user: provides the `TinkUser` session it needs. A malformed user id fails
 * with a `TinkValidationError` before anything runs.
 *
 * @since 0.1.0
 * @category sessions
 */
export const asUser: {
  (
    options: SessionOptions
  ): <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | TinkError.TinkValidationError, Exclude<R, TinkUser.TinkUser>>
  <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options: SessionOptions
  ): Effect.Effect<A, E | TinkError.TinkValidationError, Exclude<R, TinkUser.TinkUser>>
} = dual(2, <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options: SessionOptions
): Effect.Effect<A, E | TinkError.TinkValidationError, Exclude<R, TinkUser.TinkUser>> =>
  Effect.gen(function*() {
    const userId = options.userId === undefined
      ? undefined
      : yield* Ids.validate(Ids.UserId, options.userId, { field: "userId", method: "-", path: "-" })
    if (!Redacted.isRedacted(options.accessToken)) {
      return yield* new TinkError.TinkValidationError({
        method: "-",
        path: "-",
        errorMessage: "accessToken must be Redacted"
      })
    }
    const user = yield* TinkUser.make({ userId, accessToken: options.accessToken })
    return yield* Effect.provideService(effect, TinkUser.TinkUser, user)
  }))
