/**
 * A Tink-compatible fake API: the endpoints the users package calls, with in-memory state, scope
 * checks, credentials whose status moves over time, request counters and switchable faults.
 *
 * @since 0.1.0
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as internal from "./internal/sandbox.js"
import * as testClient from "./internal/testClient.js"

/**
 * Every scope the sandbox knows; the default client holds all of them, so a test only narrows
 * scopes when it wants to see a 403.
 *
 * @since 0.1.0
 * @category constants
 */
export const allScopes: ReadonlyArray<string> = internal.allScopes

/**
 * An OAuth client the token endpoint accepts. Several clients let tests check that a token minted
 * for one app cannot redeem another app's authorization code.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientCredentials {
  readonly clientId: string
  readonly clientSecret: string
  readonly scopes: ReadonlyArray<string>
}

/**
 * Knobs for a sandbox instance. Every field has a Tink-like default, so `make()` is enough for
 * most tests.
 *
 * @since 0.1.0
 * @category models
 */
export interface SandboxOptions {
  /** Default: one client, id "sandbox-client", secret "sandbox-secret", every scope. */
  readonly clients?: ReadonlyArray<ClientCredentials> | undefined
  /** Lifetime of client_credentials tokens. Default 1800 (Tink's). */
  readonly clientTokenTtlSeconds?: number | undefined
  /** Lifetime of user tokens. Default 7200 (Tink's). */
  readonly userTokenTtlSeconds?: number | undefined
  /** Length of each refresh phase: AUTHENTICATING, then UPDATING, then UPDATED. Default 1000. */
  readonly refreshStepMillis?: number | undefined
  /** How many requests `requests` keeps (oldest dropped first); counters stay exact. Default 10000. */
  readonly maxRecordedRequests?: number | undefined
  /**
   * Also send the request id the way 0.1.0 did: an `X-Tink-Request-ID` header and a `requestId`
   * field in error bodies. Tink documents neither (only `X-Request-ID`, which is always sent), so
   * this is off by default; it exists for clients written against the old sandbox.
   */
  readonly legacyRequestId?: boolean | undefined
}

/**
 * A fault injected in place of (or, for `Latency`, before) the normal answer, to exercise a
 * client's retries, timeouts and decoding errors.
 *
 * @since 0.1.0
 * @category faults
 */
export type Fault =
  | {
    readonly _tag: "Latency"
    readonly millis: number
    /** When given, each request waits a uniformly random time between `millis` and `maxMillis`. */
    readonly maxMillis?: number | undefined
    /**
     * Over a socket, keep waiting and then process the request even if the client gave up and
     * closed the connection meanwhile, as a real server would (the answer goes nowhere). Default
     * false: the request is abandoned with its connection. In memory the caller's fiber runs the
     * request, so this also makes the caller's timeout wait for it.
     */
    readonly finishWhenAbandoned?: boolean | undefined
  }
  | {
    readonly _tag: "Status"
    readonly status: number
    readonly retryAfter?: string | undefined
    readonly errorCode?: string | undefined
    readonly errorMessage?: string | undefined
  }
  | { readonly _tag: "MalformedJson" }
  | { readonly _tag: "WrongShape" }
  | { readonly _tag: "Html"; readonly status: number }
  | {
    readonly _tag: "Drop"
    /**
     * Run the endpoint first (its state change happens), then drop the connection instead of
     * answering: the request was processed but the client never learns it. Default false.
     */
    readonly afterProcessing?: boolean | undefined
  }
  | { readonly _tag: "LargeBody"; readonly bytes: number }
  | {
    /**
     * The endpoint runs (its state change happens) and its answer is cut: the status line and a
     * `Content-Length` of the whole body are sent, then half of the body, then the connection
     * closes (for a 204, half of the head). In memory, the body stream fails after the first
     * half (for a 204, the connection drops).
     */
    readonly _tag: "Truncated"
  }
  | {
    /** Any raw answer, e.g. a hostile body: this text with this status (default 200) and type. */
    readonly _tag: "Body"
    readonly body: string
    readonly status?: number | undefined
    /** Default `application/json`. */
    readonly contentType?: string | undefined
    readonly headers?: Readonly<Record<string, string>> | undefined
  }

/**
 * Which requests a fault hits. Rules are checked in order: every matching `Latency` rule adds its
 * delay, and the first matching rule of another kind answers instead of the endpoint. A faulted
 * request changes no state, except that `Latency` still lets the request through afterwards, and
 * `Truncated` and `Drop` with `afterProcessing` run the endpoint before spoiling its answer.
 *
 * @since 0.1.0
 * @category faults
 */
export interface FaultRule {
  /** Omitted: any method. */
  readonly method?: string | undefined
  /** An exact path, or a RegExp tested on the path (no query); omitted: any path. */
  readonly path?: string | RegExp | undefined
  /** How many matching requests it affects before it is spent; omitted: all of them. */
  readonly times?: number | undefined
  /**
   * The chance (0 to 1) that a matching request is hit, drawn with Effect's `Random` (the caller's
   * in memory, so a seeded `Random` replays the same faults); a request it spares does not spend
   * `times`. Omitted: every matching request.
   */
  readonly probability?: number | undefined
  readonly fault: Fault
}

/**
 * One request as it reached the app, so tests can check what a client actually sent (which token,
 * which query values, which body encoding).
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedRequest {
  readonly method: string
  readonly path: string
  /** In order, repeated keys kept. */
  readonly query: ReadonlyArray<readonly [string, string]>
  /** Lower-case names; `authorization` is kept on purpose. */
  readonly headers: Readonly<Record<string, string>>
  /** The media type without parameters, or null when absent. */
  readonly contentType: string | null
  readonly body: string
}

/**
 * A credential as the sandbox serves it (Tink's camelCase JSON), returned by `addCredential` so a
 * test knows the id it seeded.
 *
 * @since 0.1.0
 * @category models
 */
export interface Credential {
  readonly id: string
  readonly providerName: string
  readonly type: string
  readonly status: string
  readonly statusPayload: string | null
  readonly statusUpdated: number | null
  readonly updated: number | null
  readonly fields: Readonly<Record<string, string>>
  readonly userId: string
  readonly sessionExpiryDate: number | null
  /**
   * A JSON string while the credential waits on the user (`AWAITING_SUPPLEMENTAL_INFORMATION`:
   * the fields to ask for; `AWAITING_THIRD_PARTY_APP_AUTHENTICATION`: the deep links), null
   * otherwise, as Tink sends it.
   */
  readonly supplementalInformation: string | null
}

/**
 * Seed for `addCredential`; everything has a default (a demo PASSWORD credential, status UPDATED).
 *
 * @since 0.1.0
 * @category models
 */
export interface CredentialInput {
  readonly providerName?: string | undefined
  readonly status?: string | undefined
  readonly type?: string | undefined
  readonly fields?: Readonly<Record<string, string>> | undefined
  readonly statusPayload?: string | null | undefined
  /**
   * Omitted: a Tink-shaped JSON string for the two AWAITING_* statuses that carry one (a field
   * list, or a third-party app payload with deep links), null for any other status. Give a
   * string (any text, JSON or not) or null to send exactly that.
   */
  readonly supplementalInformation?: string | null | undefined
}

/**
 * The sandbox: the fake Tink as an HttpApp, plus the controls a test needs around it (faults,
 * counters, seeding without HTTP).
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The fake Tink. Serve it over HTTP, or reach it in memory through `layerTest`. */
  readonly app: HttpApp.Default
  /** Replaces the active fault rules. */
  readonly setFaults: (rules: ReadonlyArray<FaultRule>) => Effect.Effect<void>
  readonly clearFaults: Effect.Effect<void>
  /** Requests that reached the app with exactly this method and path (no query), faulted ones included. */
  readonly requestCount: (method: string, path: string) => Effect.Effect<number>
  readonly totalRequests: Effect.Effect<number>
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Clears the counters and the recorded requests, not the data. */
  readonly resetCounters: Effect.Effect<void>
  /** Users created through the API (`POST /api/v1/user/create` answered 200), not seeded ones. */
  readonly usersCreated: Effect.Effect<number>
  /**
   * Requests a fault hit, per kind: `Latency`, `Status 503`, `MalformedJson`, `Drop`,
   * `Drop after processing`, `Truncated`, ... A request hit by a latency rule and another fault
   * counts under both.
   */
  readonly faultsInjected: Effect.Effect<Readonly<Record<string, number>>>
  /** A user's credentials as the API would list them now, without HTTP (not counted). */
  readonly credentials: (userId: string) => Effect.Effect<ReadonlyArray<Credential>>
  /** Seeds a user without HTTP (not counted). Market defaults to "SE". Dies on a duplicate external id. */
  readonly createUser: (
    input: { readonly market?: string | undefined; readonly externalUserId?: string | undefined }
  ) => Effect.Effect<{ readonly userId: string }>
  /** Seeds a credential for a user. Dies when the user does not exist. */
  readonly addCredential: (userId: string, input?: CredentialInput) => Effect.Effect<Credential>
  /**
   * Moves a seeded credential to a status as Tink would (ending any refresh in progress), with
   * `statusUpdated` now; `supplementalInformation` defaults as in `addCredential`. For tests of
   * code that watches statuses. Dies when the user or the credential does not exist.
   */
  readonly setCredentialStatus: (
    userId: string,
    credentialId: string,
    input: Pick<CredentialInput, "status" | "statusPayload" | "supplementalInformation"> & { readonly status: string }
  ) => Effect.Effect<Credential>
  /** Mints a user token without the grant and exchange, for tests. Dies when the user does not exist. */
  readonly issueUserToken: (userId: string, scopes: ReadonlyArray<string>) => Effect.Effect<string>
  readonly userExists: (userId: string) => Effect.Effect<boolean>
}

/**
 * The sandbox service. Tests and the HTTP server reach the same instance through it, so
 * seeding, faults and counters apply to whatever transport serves `app`.
 *
 * @since 0.1.0
 * @category tags
 */
export class Sandbox extends Context.Tag("@tink-effect/sandbox/Sandbox")<Sandbox, Service>() {}

/**
 * Builds a fresh, empty sandbox. Each call has its own state, so concurrent tests never share data.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: SandboxOptions) => Effect.Effect<Service> = internal.make

/**
 * The sandbox as a layer, for serving it over real HTTP (see `SandboxServer`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: SandboxOptions): Layer.Layer<Sandbox> => Layer.effect(Sandbox, make(options))

/**
 * The sandbox plus an `HttpClient` that runs `app` in memory, in the calling fiber: no sockets,
 * and latency faults, token expiry and credential status follow the caller's Clock (TestClock
 * included). Any absolute URL works; the sandbox routes on the path only.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (options?: SandboxOptions): Layer.Layer<Sandbox | HttpClient.HttpClient> =>
  Layer.effectContext(Effect.map(make(options), (sandbox) =>
    Context.make(Sandbox, sandbox).pipe(
      Context.add(HttpClient.HttpClient, testClient.make(sandbox.app))
    )))
