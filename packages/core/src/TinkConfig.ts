/**
 * The settings of a Tink client: app credentials, where Tink is, and how patient to be.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type { Resource } from "./CachePolicy.js"

/**
 * What a caller may set. Only the app credentials are required.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The app's client id; not a secret, but never needed in logs either. */
  readonly clientId: string
  /** The app's client secret, kept `Redacted` so it cannot be printed by accident. */
  readonly clientSecret: Redacted.Redacted<string>
  /** Tink's API root. Default `https://api.tink.com`. */
  readonly baseUrl?: string | undefined
  /** Time allowed for one HTTP attempt. Default 10 seconds. */
  readonly requestTimeout?: Duration.DurationInput | undefined
  /** Retries after the first attempt, when a retry is safe. Default 3. */
  readonly maxRetries?: number | undefined
  /** First backoff delay; it doubles per retry, with jitter. Default 200 ms. */
  readonly retryBaseDelay?: Duration.DurationInput | undefined
  /** Longest wait before one retry; a longer `Retry-After` fails instead. Default 30 seconds. */
  readonly maxRetryDelay?: Duration.DurationInput | undefined
  /** Per-resource cache TTLs that replace the defaults of the policy table. */
  readonly cacheTtl?: Partial<Record<Resource, Duration.DurationInput>> | undefined
  /** Send trace propagation headers to Tink. Off by default: trace ids are ours, not Tink's. */
  readonly tracePropagation?: boolean | undefined
}

/**
 * The resolved configuration, every default filled in.
 *
 * @since 0.1.0
 * @category models
 */
export interface Resolved {
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  readonly baseUrl: string
  readonly requestTimeout: Duration.Duration
  readonly maxRetries: number
  readonly retryBaseDelay: Duration.Duration
  readonly maxRetryDelay: Duration.Duration
  readonly cacheTtl: Partial<Record<Resource, Duration.Duration>>
  readonly tracePropagation: boolean
}

/**
 * The configuration service read by the client.
 *
 * @since 0.1.0
 * @category tags
 */
export class TinkConfig extends Context.Tag("@tink-effect/core/TinkConfig")<TinkConfig, Resolved>() {}

/**
 * Fills in the defaults; a trailing slash on the base URL is dropped so paths join cleanly.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Resolved => {
  const cacheTtl: Partial<Record<Resource, Duration.Duration>> = {}
  for (const [resource, ttl] of Object.entries(options.cacheTtl ?? {})) {
    if (ttl !== undefined) cacheTtl[resource as Resource] = Duration.decode(ttl)
  }
  return {
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    baseUrl: (options.baseUrl ?? "https://api.tink.com").replace(/\/+$/, ""),
    requestTimeout: Duration.decode(options.requestTimeout ?? "10 seconds"),
    maxRetries: Math.max(0, Math.floor(options.maxRetries ?? 3)),
    retryBaseDelay: Duration.decode(options.retryBaseDelay ?? "200 millis"),
    maxRetryDelay: Duration.decode(options.maxRetryDelay ?? "30 seconds"),
    cacheTtl,
    tracePropagation: options.tracePropagation ?? false
  }
}

/**
 * Provides a configuration given in code.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<TinkConfig> => Layer.succeed(TinkConfig, make(options))

/**
 * Provides a configuration read from `Config`s, so the application decides where values come
 * from. A missing value fails with a `ConfigError` that names it; secrets stay `Redacted`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (config: Config.Config<Options>): Layer.Layer<TinkConfig, ConfigError.ConfigError> =>
  Layer.effect(TinkConfig, Effect.map(config, make))

/**
 * The conventional environment variables: `TINK_CLIENT_ID`, `TINK_CLIENT_SECRET` and
 * `TINK_BASE_URL` (optional).
 *
 * @since 0.1.0
 * @category config
 */
export const fromEnv: Config.Config<Options> = Config.all({
  clientId: Config.string("TINK_CLIENT_ID"),
  clientSecret: Config.redacted("TINK_CLIENT_SECRET"),
  baseUrl: Config.string("TINK_BASE_URL").pipe(Config.withDefault("https://api.tink.com"))
})
