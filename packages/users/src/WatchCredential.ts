/**
 * A credential's status as a `Stream`: what Tink's credentials guide ("Credentials Status") tells
 * a client to do by hand, polling `GET /api/v1/credentials/{id}` and acting on each newer status,
 * done once, with backoff, a total timeout, and the cache kept in step. Reached as
 * `Users.watchCredential`; this module holds its types and the polling itself.
 *
 * @since 0.2.0
 */
import { ResponseCache, TinkError, TinkUser } from "@tink-effect/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Ids from "./Ids.js"
import { decode, rule } from "./internal/input.js"
import * as Schemas from "./Schemas.js"

/**
 * The statuses Tink's credentials guide calls final ("Credentials Status" table: UPDATED,
 * AUTHENTICATION_ERROR, SESSION_EXPIRED, TEMPORARY_ERROR "final state of current refresh",
 * PERMANENT_ERROR, DELETED): a watch ends at the first of them.
 *
 * @since 0.2.0
 * @category constants
 */
export const terminalStatuses: ReadonlySet<string> = new Set([
  "UPDATED",
  "AUTHENTICATION_ERROR",
  "TEMPORARY_ERROR",
  "PERMANENT_ERROR",
  "DELETED",
  "SESSION_EXPIRED"
])

/**
 * The statuses in which the credential waits on the user (the guide's "Trigger for the client to
 * prompt the user"): answer the fields, open the bank app, or start Mobile BankID.
 *
 * @since 0.2.0
 * @category constants
 */
export const userActionStatuses: ReadonlySet<string> = new Set([
  "AWAITING_SUPPLEMENTAL_INFORMATION",
  "AWAITING_THIRD_PARTY_APP_AUTHENTICATION",
  "AWAITING_MOBILE_BANKID_AUTHENTICATION"
])

/**
 * One new status of a watched credential.
 *
 * @since 0.2.0
 * @category models
 */
export interface CredentialStatusUpdate {
  /** The credential's status; `DELETED` when Tink answered 404 (`gone`). */
  readonly status: Schemas.CredentialStatus
  /** The credential as Tink sent it; when `gone`, the last answer seen before the 404. */
  readonly credential: Schemas.Credential
  /** `supplementalInformation` read (fields to ask for, deep links, a token), when Tink sent one. */
  readonly supplementalInformation: Schemas.SupplementalInformation | undefined
  /** The credential waits on the user: show `supplementalInformation`. */
  readonly needsUser: boolean
  /** The last element: a terminal status (see `terminalStatuses`). */
  readonly terminal: boolean
  /** Tink answered 404 after the credential had been seen: it was deleted. */
  readonly gone: boolean
}

const DurationInput = rule(
  Schema.declare((u: unknown): u is Duration.DurationInput => {
    const duration = Duration.decodeUnknown(u)
    return Option.isSome(duration) && Duration.greaterThan(duration.value, Duration.zero)
  }),
  "must be a positive duration such as \"1 second\""
)

const FiniteDurationInput = rule(
  DurationInput.pipe(Schema.filter((u) => Duration.isFinite(Duration.decode(u)))),
  "must be a positive finite duration such as \"1 second\""
)

/**
 * The options of `watchCredential`; all have defaults.
 *
 * @since 0.2.0
 * @category schemas
 */
export const WatchCredentialOptions = Schema.Struct({
  interval: Schema.optional(FiniteDurationInput),
  factor: Schema.optional(
    rule(Schema.Number.pipe(Schema.finite(), Schema.between(1, 10)), "must be a number from 1 to 10")
  ),
  maxInterval: Schema.optional(FiniteDurationInput),
  timeout: Schema.optional(DurationInput),
  after: Schema.optional(rule(Schema.Number.pipe(Schema.finite()), "must be epoch milliseconds"))
}).annotations({ message: () => "must be an object" })

/**
 * @since 0.2.0
 * @category models
 */
export interface WatchCredentialOptions {
  /**
   * The wait before the second poll, and again after each new status. Default 1 second, the
   * interval of the guide's polling example.
   */
  readonly interval?: Duration.DurationInput | undefined
  /** Each wait that brought no news grows by this factor. Default 1.5. */
  readonly factor?: number | undefined
  /** The longest wait between two polls. Default 10 seconds. */
  readonly maxInterval?: Duration.DurationInput | undefined
  /**
   * How long the whole watch may last; then the stream fails with a `TinkTimeoutError` (its
   * `step` names the watch). Default 5 minutes; `Infinity` for none.
   */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * A `statusUpdated` (epoch ms) already handled, e.g. read before starting a refresh: answers not
   * newer than it are not news, so the status the refresh replaces does not end the watch.
   */
  readonly after?: number | undefined
}

const route = "/api/v1/credentials/{id}"
const step = "watching the credential's status (watchCredential)"
const decodeOptions = decode(WatchCredentialOptions, { method: "GET", path: route, field: "options" })

/** What makes an answer news: the guide acts on a newer `statusUpdated`, and a status or payload differing is news too. */
const sameStatus = (a: Schemas.Credential, b: Schemas.Credential): boolean =>
  a.status === b.status && a.statusUpdated === b.statusUpdated &&
  a.supplementalInformation === b.supplementalInformation

const update = (credential: Schemas.Credential, status: string, gone: boolean): CredentialStatusUpdate => ({
  status,
  credential,
  supplementalInformation: gone ? undefined : Schemas.supplementalInformation(credential),
  needsUser: !gone && userActionStatuses.has(status),
  terminal: gone || terminalStatuses.has(status),
  gone
})

/**
 * Polls `get` (with the cache bypassed) on a backoff schedule and emits each new status; see
 * `Users.watchCredential`, which passes `Users.getCredential` (taking it as an argument keeps
 * this module free of an import cycle with `Users`).
 *
 * @since 0.2.0
 * @category watching
 */
export const watch = <R>(
  get: (credentialId: Ids.CredentialId) => Effect.Effect<Schemas.Credential, TinkError.TinkError, R>,
  credentialId: Ids.CredentialId,
  options: WatchCredentialOptions = {}
): Stream.Stream<
  CredentialStatusUpdate,
  TinkError.TinkError,
  R | TinkUser.TinkUser | ResponseCache.ResponseCache
> =>
  Stream.unwrap(Effect.gen(function*() {
    const settings = yield* decodeOptions(options)
    const user = yield* TinkUser.TinkUser
    const cache = yield* ResponseCache.ResponseCache
    const timeout = Duration.decode(settings.timeout ?? "5 minutes")
    const driver = yield* Schedule.driver(
      Schedule.exponential(settings.interval ?? "1 second", settings.factor ?? 1.5).pipe(
        Schedule.union(Schedule.spaced(settings.maxInterval ?? "10 seconds"))
      )
    )
    // The same scopes a mutation invalidates: the session's, and those of sessions without a
    // user id, which may hold this user's token. Done before the element goes out, so a read
    // made on seeing it is already fresh.
    const invalidate = Effect.zipRight(cache.invalidate(user.scope), cache.invalidate(TinkUser.unnamedSessionsScope))
    // The last status emitted, and the last answer seen (`after` may skip answers).
    let last: Schemas.Credential | undefined
    let seen: Schemas.Credential | undefined
    let polled = false
    let ended = false

    const isNews = (credential: Schemas.Credential): boolean => {
      if (credential.status === undefined) return false
      if (
        settings.after !== undefined && credential.statusUpdated !== undefined &&
        credential.statusUpdated <= settings.after
      ) return false
      return last === undefined || !sameStatus(last, credential)
    }

    const next: Effect.Effect<CredentialStatusUpdate, Option.Option<TinkError.TinkError>, R> = Effect.gen(
      function*() {
        if (ended) return yield* Effect.fail(Option.none())
        while (true) {
          // The schedule never ends, so `next` only sleeps; an end would be a bug, not an error.
          if (polled) yield* Effect.orDie(driver.next(undefined))
          polled = true
          const answer = yield* Effect.either(ResponseCache.bypass(get(credentialId)))
          if (answer._tag === "Left") {
            const error = answer.left
            if (error._tag === "TinkNotFoundError" && seen !== undefined) {
              ended = true
              yield* invalidate
              return update(seen, "DELETED", true)
            }
            return yield* Effect.fail(Option.some(error))
          }
          const credential = answer.right
          seen = credential
          if (!isNews(credential)) continue
          last = credential
          yield* driver.reset
          yield* invalidate
          const element = update(credential, credential.status!, false)
          ended = element.terminal
          return element
        }
      }
    )

    const stream = Stream.repeatEffectOption(next)
    return Duration.isFinite(timeout)
      ? Stream.interruptWhen(
        stream,
        Effect.zipRight(
          Effect.sleep(timeout),
          Effect.fail(
            new TinkError.TinkTimeoutError({
              method: "GET",
              path: route,
              step,
              errorMessage: `no final status within ${Duration.format(timeout)}`,
              hint: "the credential may still be waiting on the user or the bank: watch again, or raise `timeout`"
            })
          )
        )
      )
      : stream
  }))
