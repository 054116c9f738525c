/**
 * The tink-effect client wired to a fresh in-memory sandbox in one layer, and helpers that seed
 * users, credentials and tokens in the shapes the operations take. For tests of code that calls
 * Tink through tink-effect.
 *
 * Import it from `@tink-effect/sandbox/SandboxClient`. It is the one module of the sandbox that
 * loads `@tink-effect/core` (an optional peer dependency, which a project testing tink-effect
 * code has anyway): the sandbox itself stays independent of the client it stands in for Tink to.
 *
 * @since 0.2.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { ResponseCache, TinkClient } from "@tink-effect/core"
import type { Ids } from "@tink-effect/users"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Sandbox from "./Sandbox.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** The sandbox's own options (clients, token lifetimes, ...); its first client is the one used. */
  readonly sandbox?: Sandbox.SandboxOptions | undefined
  /**
   * Client options over the test defaults (see `testDefaults`), e.g. `{ retryBaseDelay: "1 second" }`
   * for a test that moves the TestClock through backoffs, or `{ maxRetries: 0 }` to see every
   * failure at its first attempt.
   */
  readonly client?: Partial<TinkClient.Options> | undefined
  /** Entries the memory cache holds at most. Default 1000. */
  readonly capacity?: number | undefined
  /** Another cache in place of the memory one, e.g. a Redis store to test against. */
  readonly cache?: Layer.Layer<ResponseCache.ResponseCache> | undefined
  /**
   * Wraps the in-memory transport the client uses, e.g. to observe requests or hold a response
   * (`Sandbox` counts and records them already). The `HttpClient` the layer provides stays the
   * plain one.
   */
  readonly transport?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

/**
 * What the test layer changes from the client's defaults: retries happen as in production (up to
 * 3, on the same failures) but without waiting, since a backoff sleeps on the Clock and under
 * `TestClock` a sleep only ends when the test moves the clock: a Tink that keeps failing would
 * hang the test until its timeout, with no hint. `maxRetryDelay: 0` also makes a `Retry-After`
 * fail at once with its `TinkRateLimitError` instead of waiting for it.
 *
 * @since 0.2.0
 * @category constants
 */
export const testDefaults: Partial<TinkClient.Options> = {
  retryBaseDelay: 0,
  maxRetryDelay: 0
}

/**
 * The sandbox's app credentials and a base URL for the client: the in-memory transport routes on
 * the path only, so the host is never dialled.
 */
const clientOptions = (options: Options): TinkClient.Options => {
  const app = options.sandbox?.clients?.[0]
  return {
    clientId: app?.clientId ?? "sandbox-client",
    clientSecret: Redacted.make(app?.clientSecret ?? "sandbox-secret"),
    baseUrl: "http://sandbox.test",
    ...testDefaults,
    ...options.client
  }
}

/**
 * The real client (auth, retries, decoding, cache) over a fresh sandbox reached in memory, with a
 * memory cache: one line for a test. Also provides the `Sandbox` service (seed data, switch
 * faults, count requests) and the in-memory `HttpClient`. Time follows the caller's Clock, so
 * `TestClock` drives cache TTLs, token expiry and latency faults; retries do not wait (see
 * `testDefaults`). Bad client options are a defect naming the option.
 *
 * @example
 * ```ts
 * import { it } from "@effect/vitest"
 * import * as SandboxClient from "@tink-effect/sandbox/SandboxClient"
 * import { Users } from "@tink-effect/users"
 * import { Effect } from "effect"
 *
 * it.effect("lists the credentials", () =>
 *   Effect.gen(function*() {
 *     const user = yield* SandboxClient.seedUser({ credentials: 2 })
 *     const credentials = yield* Users.listCredentials().pipe(Users.asUser(user))
 *   }).pipe(Effect.provide(SandboxClient.layer())))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<TinkClient.TinkClient | ResponseCache.ResponseCache | Sandbox.Sandbox | HttpClient.HttpClient> => {
  const transport = options.transport
  const client = transport === undefined
    ? TinkClient.layer(clientOptions(options))
    : TinkClient.layer(clientOptions(options)).pipe(
      Layer.provide(Layer.effect(HttpClient.HttpClient, Effect.map(HttpClient.HttpClient, transport)))
    )
  return client.pipe(
    Layer.provideMerge(Layer.mergeAll(
      Sandbox.layerTest(options.sandbox),
      options.cache ?? ResponseCache.layerMemory({ capacity: options.capacity ?? 1000 })
    )),
    Layer.orDie
  )
}

/**
 * The scopes a seeded user's token holds by default: every user scope the users package's
 * operations need (list, get, delete and refresh credentials; delete the user).
 *
 * @since 0.2.0
 * @category constants
 */
export const userScopes: ReadonlyArray<string> = [
  "credentials:read",
  "credentials:write",
  "credentials:refresh",
  "user:delete"
]

/**
 * A seeded credential, its ids branded as the operations take them.
 *
 * @since 0.2.0
 * @category models
 */
export interface SeededCredential extends Omit<Sandbox.Credential, "id" | "userId"> {
  readonly id: Ids.CredentialId
  readonly userId: Ids.UserId
}

/**
 * A seeded user: `{ userId, accessToken }` is what `Users.asUser` takes, so the whole value can be
 * passed to it.
 *
 * @since 0.2.0
 * @category models
 */
export interface SeededUser {
  readonly userId: Ids.UserId
  /** A user token for `scopes`, `Redacted` like every token in tink-effect. */
  readonly accessToken: Redacted.Redacted<string>
  readonly credentials: ReadonlyArray<SeededCredential>
}

/**
 * Options of `seedUser`; all have defaults.
 *
 * @since 0.2.0
 * @category models
 */
export interface SeedUserOptions {
  /** Default "SE". */
  readonly market?: string | undefined
  readonly externalUserId?: string | undefined
  /** How many default credentials to add, or one seed per credential. Default none. */
  readonly credentials?: number | ReadonlyArray<Sandbox.CredentialInput> | undefined
  /** The token's scopes. Default `userScopes`. */
  readonly scopes?: ReadonlyArray<string> | undefined
}

// The sandbox's ids match the id rules of @tink-effect/users by construction (its generator
// makes 32 hex digits), so they are branded without a check, and without loading that package.
const asUserId = (id: string) => id as Ids.UserId
const asCredentialId = (id: string) => id as Ids.CredentialId

/**
 * A token for a seeded user, minted without the grant and exchange (no request is made or
 * counted). Dies when the user does not exist.
 *
 * @since 0.2.0
 * @category seeding
 */
export const seedToken = (
  userId: string,
  scopes: ReadonlyArray<string> = userScopes
): Effect.Effect<Redacted.Redacted<string>, never, Sandbox.Sandbox> =>
  Effect.flatMap(Sandbox.Sandbox, (sandbox) => Effect.map(sandbox.issueUserToken(userId, scopes), Redacted.make))

/**
 * Adds a credential to a seeded user (no request is made or counted); a demo PASSWORD credential,
 * status UPDATED, unless `input` says otherwise. Dies when the user does not exist.
 *
 * @since 0.2.0
 * @category seeding
 */
export const seedCredential = (
  userId: string,
  input?: Sandbox.CredentialInput
): Effect.Effect<SeededCredential, never, Sandbox.Sandbox> =>
  Effect.flatMap(Sandbox.Sandbox, (sandbox) =>
    Effect.map(
      sandbox.addCredential(userId, input),
      (credential) => ({ ...credential, id: asCredentialId(credential.id), userId: asUserId(credential.userId) })
    ))

/**
 * Seeds a user, its credentials and a token straight into the sandbox (no request is made or
 * counted), ready for `Users.asUser(user)`. Works with every layer that provides the `Sandbox`
 * service: `layer()` here, `SandboxServer.layer()`, or `NodeTink.layerSandbox()`.
 *
 * @since 0.2.0
 * @category seeding
 */
export const seedUser = (options: SeedUserOptions = {}): Effect.Effect<SeededUser, never, Sandbox.Sandbox> =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const created = yield* sandbox.createUser({ market: options.market, externalUserId: options.externalUserId })
    const userId = asUserId(created.userId)
    const inputs = typeof options.credentials === "number"
      ? Array.from({ length: options.credentials }, () => ({}))
      : options.credentials ?? []
    const credentials = yield* Effect.forEach(inputs, (input) => seedCredential(userId, input))
    const accessToken = yield* seedToken(userId, options.scopes)
    return { userId, accessToken, credentials }
  })
