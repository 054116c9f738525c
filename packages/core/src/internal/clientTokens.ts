import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as TinkError from "../TinkError.js"
import type * as SingleFlight from "./singleFlight.js"

interface Held {
  readonly token: Redacted.Redacted<string>
  readonly renewAt: number
}

/** A token answer reduced to what the manager needs. @internal */
export interface Issued {
  readonly token: Redacted.Redacted<string>
  readonly expiresInSeconds: number
}

/** @internal */
export interface ClientTokens {
  readonly get: (scopes: ReadonlyArray<string>) => Effect.Effect<Redacted.Redacted<string>, TinkError.TinkError>
  /** Drops the token if it is still the one held, so concurrent 401s cause one refresh, not many. */
  readonly reject: (scopes: ReadonlyArray<string>, token: Redacted.Redacted<string>) => Effect.Effect<void>
}

/** Renew this long before Tink's expiry, so a token never expires mid-request. */
const renewalMarginMillis = 60_000

/**
 * App tokens per scope set: cached until shortly before expiry, fetched once under concurrency.
 *
 * @internal
 */
export const make = (
  flights: SingleFlight.SingleFlight,
  issue: (scopes: string) => Effect.Effect<Issued, TinkError.TinkError>
): ClientTokens => {
  const held = new Map<string, Held>()
  const keyOf = (scopes: ReadonlyArray<string>) => Array.from(new Set(scopes)).sort().join(",")
  const noop = () => {}

  const fetch = (key: string) =>
    Effect.flatMap(issue(key), (issued) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const lifetime = issued.expiresInSeconds * 1000
        const margin = Math.min(renewalMarginMillis, lifetime / 2)
        held.set(key, { token: issued.token, renewAt: now + lifetime - margin })
        return issued.token
      }))

  return {
    get: (scopes) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const key = keyOf(scopes)
        const current = held.get(key)
        if (current !== undefined && current.renewAt > now) return Effect.succeed(current.token)
        return flights.run("client-token", key, () => fetch(key), noop, noop)
      }),
    reject: (scopes, token) =>
      Effect.sync(() => {
        const key = keyOf(scopes)
        if (held.get(key)?.token === token) held.delete(key)
      })
  }
}
