import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Effect from "effect/Effect"
import type { ClientCredentials } from "../Sandbox.js"
import type { ApiFailure } from "./failure.js"
import type { Incoming } from "./incoming.js"
import type { Store } from "./store.js"

/** @internal The options with their defaults applied. */
export interface Config {
  readonly clients: ReadonlyArray<ClientCredentials>
  readonly clientTokenTtlSeconds: number
  readonly userTokenTtlSeconds: number
  readonly refreshStepMillis: number
  readonly maxRecordedRequests: number
  readonly legacyRequestId: boolean
}

/**
 * @internal
 * What a handler sees: the request, the data, and one `now` read from the Clock for the whole
 * request, so a handler's checks and writes agree on the time.
 */
export interface Ctx {
  readonly incoming: Incoming
  readonly store: Store
  readonly config: Config
  readonly now: number
  /** The `{id}` path segment, percent-decoded, for credential routes. */
  readonly id: string
}

/** @internal */
export type Handler = (ctx: Ctx) => Effect.Effect<HttpServerResponse.HttpServerResponse, ApiFailure>
