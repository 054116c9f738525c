/**
 * User sessions for server-side apps: the library mints a user token with the app's own
 * credentials (grant, then exchange, as `deleteUser` does), keeps it until shortly before it
 * expires and renews it, so a service never stores user tokens. Sessions it mints for the same
 * user and scopes share cached entries, in this instance and in every other one on the same store.
 *
 * @since 0.2.0
 */
import { TinkClient, TinkError, TinkUser } from "@tink-effect/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Ids from "./Ids.js"
import { decode, rule } from "./internal/input.js"
import * as Users from "./Users.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** Most sessions held at once; the least recently used one leaves first. Default 1000. */
  readonly capacity?: number | undefined
  /** Renew this long before Tink's `expires_in` runs out (at most half the lifetime). Default 60 seconds. */
  readonly renewBefore?: Duration.DurationInput | undefined
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Service {
  /**
   * The session of `userId` with exactly `scopes` (order and repeats do not matter): the one
   * held, or a new one minted once for every caller asking meanwhile.
   */
  readonly get: (
    userId: Ids.UserId,
    scopes: ReadonlyArray<string>
  ) => Effect.Effect<TinkUser.Session, TinkError.TinkError>
  /** Forgets `session` if it is still the one held, e.g. after Tink rejected its token (401). */
  readonly reject: (session: TinkUser.Session) => Effect.Effect<void>
}

/**
 * The sessions minted by this app; build it with `layer`.
 *
 * @since 0.2.0
 * @category tags
 */
export class UserSessions extends Context.Tag("@tink-effect/users/UserSessions")<UserSessions, Service>() {}

const scopesMessage = "must be a non-empty list of scopes such as credentials:read"

const Input = Schema.Struct({
  userId: Schema.typeSchema(Ids.UserId),
  scopes: rule(
    Schema.NonEmptyArray(rule(Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9._:-]{1,256}$/)), scopesMessage)),
    scopesMessage
  )
})

const decodeInput = decode(Input, { method: "POST", path: "/api/v1/oauth/authorization-grant", field: "session" })

interface Held {
  readonly key: string
  readonly session: TinkUser.Session
  readonly renewAt: number
}

const sha256Hex = (text: string): Effect.Effect<string> =>
  Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))).pipe(
    Effect.map((digest) => Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join(""))
  )

/**
 * Every token minted for one user and scope set gets the same partition, so a renewal, or
 * another instance, keeps reading what earlier tokens fetched. `m:` cannot be a token hash (hex).
 */
const partitionOf = (key: string) => Effect.map(sha256Hex(key), (digest) => `m:${digest.slice(0, 32)}`)

/**
 * Builds the sessions over the `TinkClient` in context, whose app mints the tokens (it needs
 * `authorization:grant`). Mintings run in the given scope, so a caller that is interrupted leaves
 * the others waiting on the same minting alone.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Service, never, TinkClient.TinkClient | Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* TinkClient.TinkClient
    const runIn = yield* Effect.scope
    const capacity = Number.isFinite(options.capacity) ? Math.max(1, Math.floor(options.capacity!)) : 1000
    const renewBefore = Duration.toMillis(options.renewBefore ?? Duration.minutes(1))
    const held = new Map<string, Held>()
    const flights = new Map<string, Deferred.Deferred<Held, TinkError.TinkError>>()
    const keys = new WeakMap<TinkUser.Session, string>()

    const keep = (entry: Held) => {
      // Re-inserted to mark it most recently used: Map keeps insertion order.
      held.delete(entry.key)
      held.set(entry.key, entry)
      if (held.size > capacity) held.delete(held.keys().next().value!)
    }

    const mint = (key: string, userId: Ids.UserId, scope: string): Effect.Effect<Held, TinkError.TinkError> =>
      Effect.gen(function*() {
        // Measured before asking, so the token's lifetime is never overestimated.
        const startedAt = yield* Clock.currentTimeMillis
        const grant = yield* Effect.mapError(
          Users.createAuthorization({ userId, scope }),
          (error) => TinkError.annotate(error, { step: `granting ${scope} for a user session` })
        )
        const token = yield* Effect.mapError(
          Users.getUserAccessToken(grant.code),
          (error) => TinkError.annotate(error, { step: "exchanging the code for a user session" })
        )
        const session: TinkUser.Session = {
          ...yield* TinkUser.make({ userId, accessToken: token.accessToken }),
          partition: yield* partitionOf(key)
        }
        keys.set(session, key)
        const lifetime = Math.max(0, token.expiresIn * 1000)
        const entry = { key, session, renewAt: startedAt + lifetime - Math.min(renewBefore, lifetime / 2) }
        keep(entry)
        return entry
      }).pipe(TinkClient.withOperationSpan("mintUserSession"), Effect.provideService(TinkClient.TinkClient, client))

    /** One minting per key at a time; later callers join it. */
    const shared = (key: string, userId: Ids.UserId, scope: string): Effect.Effect<Held, TinkError.TinkError> =>
      Effect.suspend(() => {
        const inFlight = flights.get(key)
        if (inFlight !== undefined) return Deferred.await(inFlight)
        // Registered before any yield, so concurrent callers cannot both start one.
        const deferred = Deferred.unsafeMake<Held, TinkError.TinkError>(FiberId.none)
        flights.set(key, deferred)
        const release = () => {
          if (flights.get(key) === deferred) flights.delete(key)
        }
        const run = mint(key, userId, scope).pipe(
          Effect.exit,
          Effect.flatMap((exit) => {
            release()
            return Deferred.done(deferred, exit)
          }),
          Effect.onInterrupt(() => {
            release()
            return Deferred.interrupt(deferred)
          })
        )
        return Effect.zipRight(Effect.forkIn(run, runIn), Deferred.await(deferred))
      })

    return UserSessions.of({
      get: (userId, scopes) =>
        Effect.flatMap(decodeInput({ userId, scopes }), (input) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const scope = Array.from(new Set(input.scopes)).sort().join(",")
            const key = `${input.userId}\u0000${scope}`
            const current = held.get(key)
            if (current !== undefined && current.renewAt > now) {
              keep(current)
              return Effect.succeed(current.session)
            }
            return Effect.map(shared(key, input.userId, scope), (entry) => entry.session)
          })),
      reject: (session) =>
        Effect.sync(() => {
          const key = keys.get(session)
          if (key !== undefined && held.get(key)?.session === session) held.delete(key)
        })
    })
  })

/**
 * The sessions as a layer over the `TinkClient` in context.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<UserSessions, never, TinkClient.TinkClient> =>
  Layer.scoped(UserSessions, make(options))

/** Tink's answer to a token it no longer accepts (revoked, or its user deleted). */
const isRejectedToken = (error: unknown): boolean =>
  TinkError.isTinkError(error) && error._tag === "TinkAuthenticationError" && error.status === 401

/**
 * Runs an effect as `userId` with a token holding exactly `scopes`, minted and renewed by the
 * `UserSessions` in context. A 401 to that token forgets it, so the next call mints a new one.
 *
 * @since 0.2.0
 * @category sessions
 */
export const asUser: {
  (
    userId: Ids.UserId,
    scopes: ReadonlyArray<string>
  ): <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | TinkError.TinkError, Exclude<R, TinkUser.TinkUser> | UserSessions>
  <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    userId: Ids.UserId,
    scopes: ReadonlyArray<string>
  ): Effect.Effect<A, E | TinkError.TinkError, Exclude<R, TinkUser.TinkUser> | UserSessions>
} = dual(3, <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  userId: Ids.UserId,
  scopes: ReadonlyArray<string>
): Effect.Effect<A, E | TinkError.TinkError, Exclude<R, TinkUser.TinkUser> | UserSessions> =>
  Effect.flatMap(UserSessions, (sessions) =>
    Effect.flatMap(sessions.get(userId, scopes), (session) =>
      effect.pipe(
        TinkUser.provide(session),
        Effect.tapError((error) => isRejectedToken(error) ? sessions.reject(session) : Effect.void)
      ))))
