/**
 * The eight operations of Tink's Users API as Effect programs. Reads of a user's data are
 * cached per user; every mutation invalidates that user's cache through `TinkClient`, so no
 * caller has to remember to.
 *
 * @since 0.1.0
 */
import { AccessToken, type ResponseCache, TinkClient, TinkError, TinkUser } from "@tink-effect/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import * as Ids from "./Ids.js"
import { CredentialArray } from "./internal/credentialList.js"
import { decode, decodeSync, rule } from "./internal/input.js"
import * as Schemas from "./Schemas.js"
import * as WatchCredential from "./WatchCredential.js"

/** An options object; what is wrong inside it is told by its fields' own rules. */
const options = <Fields extends Schema.Struct.Fields>(fields: Fields) =>
  Schema.Struct(fields).annotations({ message: () => "must be an object" })

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

const credentialPath = (id: Ids.CredentialId) => `/api/v1/credentials/${encodeURIComponent(id)}`

/** A credential id checked again at the call: a cast, or an untyped caller, may pass anything. */
const decodeCredentialId = {
  GET: decodeSync(Ids.CredentialId, { method: "GET", path: "/api/v1/credentials/{id}", field: "credentialId" }),
  DELETE: decode(Ids.CredentialId, { method: "DELETE", path: "/api/v1/credentials/{id}", field: "credentialId" }),
  POST: decode(Ids.CredentialId, { method: "POST", path: "/api/v1/credentials/{id}/refresh", field: "credentialId" })
}

/**
 * The options of `createUser`: `market` (ISO 3166-1 alpha-2) is required; `locale` looks like
 * `en_US` (Tink defaults it from the market); `externalUserId` is the app's own id for the user;
 * a `temporary` user is deleted by Tink after 24 hours.
 *
 * @since 0.2.0
 * @category schemas
 */
export const CreateUserOptions = options({
  market: rule(Schema.String.pipe(Schema.pattern(/^[A-Z]{2}$/)), "must be an ISO 3166-1 alpha-2 code such as SE"),
  locale: Schema.optional(rule(Schema.String.pipe(Schema.pattern(/^[a-z]{2}_[A-Z]{2}$/)), "must look like en_US")),
  externalUserId: Schema.optional(Ids.ExternalUserId),
  retentionClass: Schema.optional(rule(Schema.Literal("permanent", "temporary"), "must be permanent or temporary"))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface CreateUserOptions extends Schema.Schema.Encoded<typeof CreateUserOptions> {}

const decodeCreateUser = decode(CreateUserOptions, { method: "POST", path: "/api/v1/user/create", field: "options" })

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
    const { externalUserId, locale, market, retentionClass } = yield* decodeCreateUser(options)
    const client = yield* TinkClient.TinkClient
    return yield* client.post("/api/v1/user/create", {
      operation: "createUser",
      auth: TinkClient.appAuth("user:create"),
      schema: Schemas.CreatedUser,
      body: {
        _tag: "Json",
        value: { market, locale, external_user_id: externalUserId, retention_class: retentionClass }
      }
    })
  })

/**
 * Tink's scopes are tokens such as `credentials:read`, `balance-refresh` and
 * `balance-refresh:readonly`, joined by commas. Any such list is Tink's to judge; we only refuse
 * what is not a list of tokens (and so could not mean what it says in a form body).
 */
const Scope = rule(
  Schema.String.pipe(Schema.filter((s) => s.length <= 2048 && /^[A-Za-z0-9._:-]+(,[A-Za-z0-9._:-]+)*$/.test(s))),
  "must be comma-separated scopes such as credentials:read"
)

/** ISO-8859-1 without its control characters: Tink requires `id_hint` in ISO-8859-1. */
const IdHint = rule(
  Schema.String.pipe(Schema.pattern(/^[\x20-\x7e\xa0-\xff]{1,256}$/)),
  "must be 1-256 characters of ISO-8859-1 text, as Tink requires"
)

/**
 * The options of `createAuthorization`: exactly one of `userId` and `externalUserId`, the
 * comma-separated `scope` the code will grant, and, for a delegated grant (Tink Link), both
 * `idHint` and `actorClientId`.
 *
 * @since 0.2.0
 * @category schemas
 */
export const CreateAuthorizationOptions = options({
  userId: Schema.optional(Schema.typeSchema(Ids.UserId)),
  externalUserId: Schema.optional(Ids.ExternalUserId),
  scope: Scope,
  idHint: Schema.optional(IdHint),
  actorClientId: Schema.optional(Ids.BodyText(256))
}).pipe(
  Schema.filter((o) =>
    (o.userId === undefined) !== (o.externalUserId === undefined) ||
    "must give exactly one of userId and externalUserId"
  ),
  Schema.filter((o) =>
    (o.idHint === undefined) === (o.actorClientId === undefined) ||
    "must give both idHint and actorClientId for a delegated grant"
  )
)

/**
 * Give exactly one of `userId` and `externalUserId`; giving `idHint` and `actorClientId` makes it
 * a delegated grant (for Tink Link).
 *
 * @since 0.1.0
 * @category models
 */
export type CreateAuthorizationOptions =
  & (
    | { readonly userId: Ids.UserId; readonly externalUserId?: undefined }
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

const grantPath = "/api/v1/oauth/authorization-grant"
const decodeAuthorization = decode(CreateAuthorizationOptions, { method: "POST", path: grantPath, field: "options" })
const decodeDelegated = decode(CreateAuthorizationOptions, {
  method: "POST",
  path: `${grantPath}/delegate`,
  field: "options"
})

/** Untyped callers may pass anything; only the path of an error depends on this guess. */
const asksDelegated = (u: unknown): boolean => {
  try {
    const o = u as { readonly idHint?: unknown; readonly actorClientId?: unknown } | null | undefined
    return typeof o === "object" && o !== null && (o.idHint !== undefined || o.actorClientId !== undefined)
  } catch {
    return false
  }
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
    // The hand-written type is the schema's input, narrowed to "exactly one" user.
    const input = options satisfies Schema.Schema.Encoded<typeof CreateAuthorizationOptions>
    const decoded = yield* (asksDelegated(input) ? decodeDelegated : decodeAuthorization)(input)
    const { actorClientId, externalUserId, idHint, scope, userId } = decoded
    const path = idHint === undefined ? grantPath : `${grantPath}/delegate`
    const user = userId === undefined ? { external_user_id: externalUserId } : { user_id: userId }
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
        value: { ...user, scope, id_hint: idHint, actor_client_id: actorClientId }
      }
    })
  })

/** Codes are printable ASCII; the rule is all an error says, the code being a secret. */
const decodeCode = decode(
  rule(Schema.String.pipe(Schema.pattern(/^[\x21-\x7e]{1,2048}$/)), "must be 1-2048 printable ASCII characters"),
  { method: "POST", path: "/api/v1/oauth/token", field: "authorization code" }
)

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
    yield* decodeCode(Redacted.value(secretCode))
    const client = yield* TinkClient.TinkClient
    return yield* client.post(path, {
      operation: "getUserAccessToken",
      auth: TinkClient.clientSecretAuth,
      schema: AccessToken.AccessToken,
      sensitive: true,
      body: {
        _tag: "Form",
        value: {
          grant_type: "authorization_code",
          code: secretCode
        }
      }
    })
  })

const sessionMismatchHint =
  "the session's access token belongs to another user than its userId: take both from the same token exchange"

/**
 * A session's user id is only the caller's word for whose token it holds; the `userId` Tink puts
 * on each credential says whose data it is. A mismatch returns nothing, so a session pairing one
 * user's id with another's token never shows (nor, through `ownerChecked`, changes) that data.
 */
const isForeign = (credential: Schemas.Credential, user: TinkUser.Session): boolean =>
  user.userId !== undefined && credential.userId !== undefined && credential.userId !== user.userId

const sessionMismatch = (method: string, path: string) =>
  new TinkError.TinkAuthenticationError({ method, path, reason: "session-mismatch", hint: sessionMismatchHint })

/**
 * The check of every list fetched for a session (`TinkClient.ReadOptions.check`): run on what
 * comes from Tink, before it is cached or shared, so a hit (which passed it) runs nothing.
 */
const ownsList = (credentials: ReadonlyArray<Schemas.Credential>, user: TinkUser.Session) => {
  for (const credential of credentials) {
    if (isForeign(credential, user)) return sessionMismatch("GET", "/api/v1/credentials/list")
  }
  return undefined
}

const ownsOne = (credential: Schemas.Credential, user: TinkUser.Session) =>
  isForeign(credential, user) ? sessionMismatch("GET", "/api/v1/credentials/{id}") : undefined

/**
 * Whether an answer may be cached for a session: one that names its user keeps only answers
 * Tink's data ties to that user. An empty list (or a credential without a user id) proves
 * nothing: cached, it could outlive the deletion of whichever user the token really belongs to,
 * so it is returned but fetched again next time.
 */
const attributable = (credentials: ReadonlyArray<Schemas.Credential>, user: TinkUser.Session): boolean =>
  user.userId === undefined ||
  (credentials.length > 0 && credentials.every((credential) => credential.userId === user.userId))

const attributableOne = (credential: Schemas.Credential, user: TinkUser.Session): boolean =>
  user.userId === undefined || credential.userId === user.userId

/** Runs `f` with the client and session taken from context in one effect step. */
const withSession = <A>(
  f: (
    client: TinkClient.Service,
    auth: TinkClient.Auth,
    user: TinkUser.Session
  ) => Effect.Effect<A, TinkError.TinkError>
): Effect.Effect<A, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser> =>
  // One effect step (`contextWithEffect` takes two): the fiber's context is what it would read.
  Effect.withFiberRuntime((fiber) => {
    const context = fiber.currentContext as Context.Context<TinkClient.TinkClient | TinkUser.TinkUser>
    // One map read each; `Context.get` (two reads) only to report a missing service.
    const user: TinkUser.Session = context.unsafeMap.get(TinkUser.TinkUser.key) ??
      Context.get(context, TinkUser.TinkUser)
    const client: TinkClient.Service = context.unsafeMap.get(TinkClient.TinkClient.key) ??
      Context.get(context, TinkClient.TinkClient)
    return f(client, TinkClient.userAuth(user), user)
  }) as Effect.Effect<A, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser>

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
> => listCredentialsEffect

/** One effect for every call: it reads the client and session when it runs. */
const listCredentialsEffect = TinkClient.getForUser("/api/v1/credentials/list", {
  operation: "listCredentials",
  schema: CredentialArray,
  storeIf: attributable,
  check: ownsList
})

/**
 * Gets one of the session user's credentials, cached for 30 seconds.
 *
 * @since 0.1.0
 * @category credentials
 */
export const getCredential = (
  credentialId: Ids.CredentialId
): Effect.Effect<Schemas.Credential, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser> => {
  // Checked now, so that a well-formed call is the read itself (see `TinkUser.provide`).
  const id = decodeCredentialId.GET(credentialId)
  return Either.isLeft(id) ? Effect.fail(id.left) : TinkClient.getForUser(credentialPath(id.right), {
    operation: "getCredential",
    route: "/api/v1/credentials/{id}",
    schema: Schemas.Credential,
    storeIf: attributableOne,
    check: ownsOne
  })
}

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
        (error) => error._tag === "TinkAuthenticationError" && error.reason !== "session-mismatch",
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
  credentialId: Ids.CredentialId
): Effect.Effect<void, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser> =>
  Effect.flatMap(
    decodeCredentialId.DELETE(credentialId),
    (id) =>
      ownerChecked(
        id,
        withSession((client, auth) =>
          client.delete(credentialPath(id), { operation: "deleteCredential", route: "/api/v1/credentials/{id}", auth })
        )
      )
  )

/**
 * The data a refresh asks for: `items` (Tink's item names, e.g. `CHECKING_ACCOUNTS`), Tink's
 * `optIn` and `authenticate` flags, and the `appUri` and `callbackUri` of its body.
 *
 * @since 0.2.0
 * @category schemas
 */
export const RefreshOptions = options({
  items: Schema.optional(
    rule(
      Schema.Array(Schema.String.pipe(Schema.pattern(/^[A-Z_]{1,64}$/))),
      "must be Tink item names: upper-case letters and underscores"
    )
  ),
  optIn: Schema.optional(rule(Schema.Boolean, "must be a boolean")),
  authenticate: Schema.optional(rule(Schema.Boolean, "must be a boolean")),
  appUri: Schema.optional(Ids.BodyText(2048)),
  callbackUri: Schema.optional(Ids.BodyText(2048))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface RefreshOptions extends Schema.Schema.Encoded<typeof RefreshOptions> {}

const decodeRefresh = decode(RefreshOptions, {
  method: "POST",
  path: "/api/v1/credentials/{id}/refresh",
  field: "options"
})

/**
 * Starts a refresh of a credential from the bank (Tink answers 204) and invalidates the user's
 * cached data. Tink rejects a second refresh of a credential while one runs, so concurrent
 * calls for the same credential share one request.
 *
 * @since 0.1.0
 * @category credentials
 */
export const refreshCredential = (
  credentialId: Ids.CredentialId,
  options: RefreshOptions = {}
): Effect.Effect<void, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser> =>
  Effect.gen(function*() {
    const id = yield* decodeCredentialId.POST(credentialId)
    const { appUri, authenticate, callbackUri, items = [], optIn } = yield* decodeRefresh(options)
    const query: Array<readonly [string, string]> = items.map((item) => ["items", item] as const)
    if (optIn !== undefined) query.push(["optIn", String(optIn)])
    if (authenticate !== undefined) query.push(["authenticate", String(authenticate)])
    const body = appUri === undefined && callbackUri === undefined
      ? undefined
      : { _tag: "Json" as const, value: { appUri, callbackUri } }
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

const decodeDeleteUser = decode(Ids.UserId, { method: "POST", path: "/api/v1/user/delete", field: "userId" })

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
export const deleteUser = (userId: Ids.UserId): Effect.Effect<void, TinkError.TinkError, TinkClient.TinkClient> =>
  Effect.gen(function*() {
    const path = "/api/v1/user/delete"
    const id = yield* decodeDeleteUser(userId)
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
  }).pipe(TinkClient.withOperationSpan("deleteUser"))

/**
 * What identifies a user session: the user's access token (`Redacted`) and, when known, the
 * user id. Without the id the cache is scoped by a hash of the token, so it is never shared.
 *
 * @since 0.2.0
 * @category schemas
 */
export const SessionOptions = options({
  userId: Schema.optional(Schema.typeSchema(Ids.UserId)),
  accessToken: rule(Schema.RedactedFromSelf(Schema.String), "must be Redacted")
})

/**
 * @since 0.1.0
 * @category models
 */
export interface SessionOptions extends Schema.Schema.Encoded<typeof SessionOptions> {}

const decodeSession = decode(SessionOptions, { method: "-", path: "-", field: "options" })
const isUserId = Schema.is(Schema.typeSchema(Ids.UserId))

/**
 * The session of well-formed `asUser` options, built at once (the per-request path: a plain
 * check and a synchronous hash); `undefined` for anything else, which the schema decode then
 * reports. Each field is read once, so a getter cannot pass the check and answer something else.
 */
const wellFormedSession = (options: SessionOptions): TinkUser.Session | undefined => {
  try {
    if (typeof options !== "object" || options === null) return undefined
    const { accessToken, userId } = options
    return Redacted.isRedacted(accessToken) && typeof Redacted.value(accessToken) === "string" &&
        (userId === undefined || isUserId(userId))
      ? TinkUser.makeSync({ userId, accessToken: accessToken as Redacted.Redacted<string> })
      : undefined
  } catch {
    // A throwing getter or a wiped secret: the decode reports it as bad input.
    return undefined
  }
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
  Effect.suspend(() => {
    const user = wellFormedSession(options)
    return user !== undefined
      ? TinkUser.provide(effect, user)
      : Effect.flatMap(
        Effect.flatMap(decodeSession(options), TinkUser.make),
        (session) => TinkUser.provide(effect, session)
      )
  }))

/**
 * A credential's status as a `Stream`, polling `getCredential` with the cache bypassed: the
 * current status first, then each newer one (Tink's newer `statusUpdated`, or a changed status
 * or `supplementalInformation`), ending after a terminal one (`WatchCredential.terminalStatuses`).
 * Statuses that wait on the user come with their `supplementalInformation` read. Polls back off
 * from `interval` (1 s) by `factor` (1.5) to `maxInterval` (10 s), and start again from `interval`
 * after each new status; the whole watch fails with a `TinkTimeoutError` after `timeout` (5 min).
 * Each new status invalidates the session's cache scope before it is emitted, so list reads
 * agree with the stream. A 404 after the credential was seen ends it with a `DELETED` element
 * marked `gone`; a 404 at the first poll (an unknown id) fails with `TinkNotFoundError`, and any
 * other failure (after the client's own retries) fails the stream. Interrupting the stream stops
 * polling at once. Needs the `ResponseCache` in context (every `NodeTink` layer provides it).
 *
 * @example
 * ```ts
 * yield* Users.watchCredential(credentialId).pipe(
 *   Stream.runForEach((update) => Console.log(update.status)),
 *   Users.asUser(session)
 * )
 * ```
 *
 * @since 0.2.0
 * @category credentials
 */
export const watchCredential = (
  credentialId: Ids.CredentialId,
  options?: WatchCredential.WatchCredentialOptions
): Stream.Stream<
  WatchCredential.CredentialStatusUpdate,
  TinkError.TinkError,
  TinkClient.TinkClient | TinkUser.TinkUser | ResponseCache.ResponseCache
> => WatchCredential.watch(getCredential, credentialId, options)
