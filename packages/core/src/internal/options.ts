import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as CachePolicy from "../CachePolicy.js"
import type * as TinkClient from "../TinkClient.js"

/**
 * The client's settings with every default filled in and every value checked.
 *
 * @internal
 */
export interface Resolved {
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  readonly baseUrl: string
  readonly requestTimeout: Duration.Duration
  readonly maxRetries: number
  readonly retryBaseDelay: Duration.Duration
  readonly maxRetryDelay: Duration.Duration
  readonly cacheTtl: Partial<Record<CachePolicy.Resource, Duration.Duration>>
  readonly tracePropagation: boolean
}

type Field = keyof TinkClient.Options

/** A value that failed its check, with what is wrong in words; the value itself is never quoted. */
type Checked<A> = Either.Either<A, string>

const duration = (value: unknown, what: string, positive: boolean): Checked<Duration.Duration> => {
  const decoded = Duration.decodeUnknown(value)
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value)) return Either.left(`must be a finite ${what}`)
  if (positive && Duration.isZero(decoded.value)) return Either.left(`must be longer than zero`)
  return Either.right(decoded.value)
}

const resources: ReadonlySet<string> = new Set(Object.keys(CachePolicy.defaultTtl))

/** Checks one option; `undefined` (left out) is always allowed except for the credentials. */
const checks: { readonly [K in Field]-?: (value: unknown) => Checked<unknown> } = {
  clientId: (value) =>
    typeof value === "string" && value.trim().length > 0 && !/[\u0000-\u001f\u007f]/.test(value)
      ? Either.right(value)
      : Either.left("must be a non-empty string without control characters"),
  clientSecret: (value) =>
    Redacted.isRedacted(value) && typeof Redacted.value(value) === "string" &&
      (Redacted.value(value) as string).length > 0
      ? Either.right(value)
      : Either.left("must be a non-empty Redacted string (e.g. Config.redacted)"),
  baseUrl: (value) => {
    if (value === undefined) return Either.right("https://api.tink.com")
    let url: URL | undefined
    try {
      url = typeof value === "string" ? new URL(value) : undefined
    } catch {
      url = undefined
    }
    // A base URL with credentials, a query or a fragment would be joined into every request path.
    return url !== undefined && (url.protocol === "https:" || url.protocol === "http:") &&
        url.username === "" && url.password === "" && url.search === "" && url.hash === ""
      ? Either.right((value as string).replace(/\/+$/, ""))
      : Either.left("must be an absolute http(s) URL without credentials, query or fragment")
  },
  requestTimeout: (value) => duration(value ?? "10 seconds", "duration", true),
  maxRetries: (value) => {
    const retries = value ?? 3
    return typeof retries === "number" && Number.isSafeInteger(retries) && retries >= 0
      ? Either.right(retries)
      : Either.left("must be a whole number, 0 or more")
  },
  retryBaseDelay: (value) => duration(value ?? "200 millis", "duration", false),
  maxRetryDelay: (value) => duration(value ?? "30 seconds", "duration", false),
  cacheTtl: (value) => {
    if (value === undefined) return Either.right({})
    if (typeof value !== "object" || value === null) return Either.left("must be a record of durations by resource")
    const ttls: Partial<Record<CachePolicy.Resource, Duration.Duration>> = {}
    for (const [resource, ttl] of Object.entries(value)) {
      if (!resources.has(resource)) {
        return Either.left(`names an unknown resource (${Array.from(resources).join(", ")})`)
      }
      if (ttl === undefined) continue
      const decoded = duration(ttl, `duration for ${resource}`, false)
      if (Either.isLeft(decoded)) return decoded
      ttls[resource as CachePolicy.Resource] = decoded.right
    }
    return Either.right(ttls)
  },
  tracePropagation: (value) =>
    value === undefined || typeof value === "boolean" ? Either.right(value ?? false) : Either.left("must be a boolean")
}

const fields = Object.keys(checks) as ReadonlyArray<Field>

const invalid = (path: ReadonlyArray<string>, field: Field, problem: string) =>
  ConfigError.InvalidData([...path], `${field} ${problem}`)

/**
 * Checks the options and fills in the defaults. A bad value is a `ConfigError` at the option's
 * name that says what is wrong without quoting the value (a secret or a URL with a password).
 *
 * @internal
 */
export const resolve = (options: TinkClient.Options): Either.Either<Resolved, ConfigError.ConfigError> => {
  const resolved: Record<string, unknown> = {}
  for (const field of fields) {
    const checked = checks[field](options[field])
    if (Either.isLeft(checked)) return Either.left(invalid([field], field, checked.left))
    resolved[field] = checked.right
  }
  return Either.right(resolved as unknown as Resolved)
}

/** The internal shape of a `Config`, read only to find the name of the variable it loads. */
interface ConfigNode {
  readonly _tag?: string
  readonly name?: string
  readonly config?: unknown
  readonly first?: unknown
  readonly original?: unknown
}

/**
 * The path of the variable a `Config` reads, e.g. `["TINK_BASE_URL"]` for
 * `Config.string("TINK_BASE_URL").pipe(Config.withDefault(...))`. Effect names the variable in
 * errors of the primitive itself, but not in those of a check mapped over a config with a
 * default, so the name is looked up here; empty when the config names none.
 */
const variablePath = (config: unknown): ReadonlyArray<string> => {
  const path: Array<string> = []
  let node = config as ConfigNode | undefined
  for (let depth = 0; node !== undefined && depth < 32; depth++) {
    switch (node._tag) {
      case "Nested":
        if (typeof node.name === "string") path.push(node.name)
        node = node.config as ConfigNode | undefined
        break
      case "Described":
        node = node.config as ConfigNode | undefined
        break
      case "Fallback":
        node = node.first as ConfigNode | undefined
        break
      case "MapOrFail":
        node = node.original as ConfigNode | undefined
        break
      default:
        node = undefined
    }
  }
  return path
}

const leadingNames = (config: unknown): number => {
  let count = 0
  for (let node = config as ConfigNode | undefined; node?._tag === "Nested"; node = node.config as ConfigNode) count++
  return count
}

/**
 * One `Config` of the options from the wrapped form `layerConfig` takes: each field is checked
 * as it loads, so a bad value is a `ConfigError` naming the variable it came from.
 *
 * @internal
 */
export const fromWrapped = (wrapped: Config.Config.Wrap<TinkClient.Options>): Config.Config<TinkClient.Options> => {
  if (Config.isConfig(wrapped)) return wrapped
  const configs: Record<string, Config.Config<unknown>> = {}
  for (const [key, value] of Object.entries(wrapped)) {
    if (value === undefined) continue
    const field = key as Field
    const config: Config.Config<unknown> = Config.isConfig(value) ? value : Config.unwrap(value as any)
    // Effect prefixes a failed check with the names of the config's outer `Nested` layers only.
    const path = variablePath(config).slice(leadingNames(config))
    configs[key] = Config.mapOrFail(config, (loaded) => {
      const checked = checks[field] === undefined ? Either.right(loaded) : checks[field](loaded)
      return Either.isLeft(checked) ? Either.left(invalid(path, field, checked.left)) : Either.right(loaded)
    })
  }
  return Config.all(configs) as Config.Config<unknown> as Config.Config<TinkClient.Options>
}

/**
 * `resolve` as an effect, for `make`.
 *
 * @internal
 */
export const resolveEffect = (options: TinkClient.Options): Effect.Effect<Resolved, ConfigError.ConfigError> =>
  Either.match(resolve(options), { onLeft: Effect.fail, onRight: Effect.succeed })

/**
 * The per-call settings `TinkClient.withRequestOptions` puts on the fiber, checked; a field left
 * out keeps the client's own setting.
 *
 * @internal
 */
export interface Overrides {
  readonly requestTimeout?: Duration.Duration | undefined
  readonly maxRetries?: number | undefined
}

/**
 * Where the pipeline finds the per-call settings. A `globalValue`, so that two copies of this
 * module (e.g. a bundle and a test) still share one reference.
 *
 * @internal
 */
export const overrides: FiberRef.FiberRef<Overrides> = globalValue(
  Symbol.for("@tink-effect/core/TinkClient/overrides"),
  () => FiberRef.unsafeMake<Overrides>({})
)

/**
 * Checks per-call settings with the rules of the client's options; the problem in words, the
 * value never quoted.
 *
 * @internal
 */
export const checkOverrides = (
  options: { readonly requestTimeout?: unknown; readonly maxRetries?: unknown }
): Either.Either<Overrides, string> => {
  const checked: { requestTimeout?: Duration.Duration; maxRetries?: number } = {}
  if (options.requestTimeout !== undefined) {
    const timeout = checks.requestTimeout(options.requestTimeout)
    if (Either.isLeft(timeout)) return Either.left(`requestTimeout ${timeout.left}`)
    checked.requestTimeout = timeout.right as Duration.Duration
  }
  if (options.maxRetries !== undefined) {
    const retries = checks.maxRetries(options.maxRetries)
    if (Either.isLeft(retries)) return Either.left(`maxRetries ${retries.left}`)
    checked.maxRetries = retries.right as number
  }
  return Either.right(checked)
}

/**
 * An optional variable read as text and parsed by `parse`. A value `parse` refuses is a
 * `ConfigError` at the variable's name (the parse runs inside the name, so Effect prefixes it),
 * saying what is expected without quoting the value; unset is `undefined` (the option's default).
 *
 * @internal
 */
export const optionalVariable = <A>(
  name: string,
  parse: (text: string) => Either.Either<A, string>
): Config.Config<A | undefined> =>
  Config.nested(
    Config.string().pipe(
      Config.mapOrFail((text) => Either.mapLeft(parse(text.trim()), (problem) => ConfigError.InvalidData([], problem)))
    ),
    name
  ).pipe(Config.option, Config.map(Option.getOrUndefined))

/**
 * A duration from the environment: a whole number of milliseconds (`"2500"`) or Effect's duration
 * text (`"5 seconds"`, `"500 millis"`, `"1 minute"`).
 *
 * @internal
 */
export const parseDuration = (text: string): Either.Either<Duration.DurationInput, string> => {
  if (/^\d+$/.test(text)) return Either.right(Duration.millis(Number(text)))
  const decoded = Duration.decodeUnknown(text)
  return Option.isSome(decoded)
    ? Either.right(decoded.value)
    : Either.left("must be a number of milliseconds or a duration such as \"5 seconds\"")
}

/**
 * A whole number from the environment, 0 or more.
 *
 * @internal
 */
export const parseCount = (text: string): Either.Either<number, string> =>
  /^\d+$/.test(text) && Number.isSafeInteger(Number(text))
    ? Either.right(Number(text))
    : Either.left("must be a whole number, 0 or more")
