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
const scopePattern = /^[a-z-]+:[a-z-]+(,[a-z-]+:[a-z-]+)*$/

const reject = (method: string, path: string, errorMessage: string) =>
  Effect.fail(new TinkError.TinkValidationError({ method, path, errorMessage }))

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
    if (typeof options.market !== "string" || !marketPattern.test(options.market)) {
      return yield* reject("POST", path, "market must be an ISO 3166-1 alpha-2 code such as SE")
    }
    if (options.locale !== undefined && !localePattern.test(options.locale)) {
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
    readonly idHint?: string | undefined
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
    const delegated = options.idHint !== undefined || options.actorClientId !== undefined
    const path = delegated ? "/api/v1/oauth/authorization-grant/delegate" : "/api/v1/oauth/authorization-grant"
    const hasUserId = options.userId !== undefined
    if (hasUserId === (options.externalUserId !== undefined)) {
      return yield* reject("POST", path, "give exactly one of userId and externalUserId")
    }
    if (typeof options.scope !== "string" || !scopePattern.test(options.scope)) {
      return yield* reject("POST", path, "scope must be comma-separated scopes such as credentials:read")
    }
    if (delegated && (options.idHint === undefined || options.actorClientId === undefined)) {
      return yield* reject("POST", path, "a delegated grant needs both idHint and actorClientId")
    }
    if (delegated && (options.idHint!.length === 0 || options.idHint!.length > 256)) {
      return yield* reject("POST", path, "idHint must be 1-256 characters")
    }
    const actorClientId = delegated
      ? yield* Ids.validate(Ids.ExternalUserId, options.actorClientId, { field: "actorClientId", method: "POST", path })
      : undefined
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
  withSession((client, auth) =>
    client.get("/api/v1/credentials/list", { operation: "listCredentials", auth, schema: CredentialArray })
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
      withSession((client, auth) =>
        client.get(credentialPath(id), {
          operation: "getCredential",
          route: "/api/v1/credentials/{id}",
          auth,
          schema: Schemas.Credential
        })
      )
  )

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
      withSession((client, auth) =>
        client.delete(credentialPath(id), { operation: "deleteCredential", route: "/api/v1/credentials/{id}", auth })
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
    const items = options.items ?? []
    if (!items.every((item) => typeof item === "string" && itemPattern.test(item))) {
      return yield* reject("POST", template, "items must be Tink item names: upper-case letters and underscores")
    }
    const query: Array<readonly [string, string]> = items.map((item) => ["items", item] as const)
    if (options.optIn !== undefined) query.push(["optIn", String(options.optIn)])
    if (options.authenticate !== undefined) query.push(["authenticate", String(options.authenticate)])
    const body = options.appUri === undefined && options.callbackUri === undefined
      ? undefined
      : { _tag: "Json" as const, value: { appUri: options.appUri, callbackUri: options.callbackUri } }
    const client = yield* TinkClient.TinkClient
    const user = yield* TinkUser.TinkUser
    return yield* client.shared(
      `refresh\u0000${user.scope}\u0000${user.tokenHash}\u0000${id}`,
      client.post(`${credentialPath(id)}/refresh`, {
        operation: "refreshCredential",
        route: "/api/v1/credentials/{id}/refresh",
        auth: TinkClient.userAuth(user),
        query,
        body
      })
    )
  })

/**
 * Deletes a Tink user and invalidates everything cached for it. Tink deletes the user of the
 * token, so this uses the session in context when it is that user's, and otherwise gets a
 * `user:delete` token for the user with the app's credentials (grant, then exchange).
 *
 * @since 0.1.0
 * @category users
 */
export const deleteUser = (userId: string): Effect.Effect<void, TinkError.TinkError, TinkClient.TinkClient> =>
  Effect.gen(function*() {
    const path = "/api/v1/user/delete"
    const id = yield* Ids.validate(Ids.UserId, userId, { field: "userId", method: "POST", path })
    const inContext = yield* Effect.serviceOption(TinkUser.TinkUser)
    const user = Option.isSome(inContext) && inContext.value.userId === id
      ? inContext.value
      : yield* createAuthorization({ userId: id, scope: "user:delete" }).pipe(
        Effect.flatMap((grant) => getUserAccessToken(grant.code)),
        Effect.flatMap((token) => TinkUser.make({ userId: id, accessToken: token.accessToken }))
      )
    const client = yield* TinkClient.TinkClient
    // A session in context without a user id may be this user's: its scope goes too.
    const invalidates = [TinkUser.scopeOfUser(id)]
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
