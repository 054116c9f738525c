/**
 * How long a response may be served from the cache, and under which key. Kept as plain
 * functions so the TTL table and key shape can be tested and reasoned about on their own.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"

/**
 * The kinds of Tink resources the TTL table distinguishes.
 *
 * @since 0.1.0
 * @category models
 */
export type Resource =
  | "credentials"
  | "balances"
  | "accounts"
  | "transactions"
  | "user"
  | "providers"
  | "statistics"
  | "categories"
  | "reports"
  | "default"

/**
 * The default TTLs: short where Tink's data changes under the user (credential status moves
 * during authentication), long for reference data.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTtl: Readonly<Record<Resource, Duration.Duration>> = {
  credentials: Duration.seconds(30),
  balances: Duration.minutes(1),
  accounts: Duration.minutes(5),
  transactions: Duration.minutes(5),
  user: Duration.minutes(10),
  providers: Duration.hours(1),
  statistics: Duration.hours(1),
  categories: Duration.hours(24),
  reports: Duration.hours(24),
  default: Duration.minutes(5)
}

/**
 * The longest TTL any entry can have, so a store can keep generation markers at least that long.
 *
 * @since 0.1.0
 * @category constants
 */
export const longestTtl = (overrides: Partial<Record<Resource, Duration.Duration>> = {}): Duration.Duration =>
  Object.values({ ...defaultTtl, ...overrides }).reduce(Duration.max)

const segmentResource: ReadonlyArray<readonly [RegExp, Resource]> = [
  [/^\/api\/v1\/credentials(\/|$)/, "credentials"],
  [/^\/(api\/v1|data\/v2)\/balances?(\/|$)/, "balances"],
  [/^\/(api\/v1|data\/v2)\/accounts(\/|$)/, "accounts"],
  [/^\/(api\/v1|data\/v2)\/transactions(\/|$)/, "transactions"],
  [/^\/api\/v1\/user(\/|$)/, "user"],
  [/^\/api\/v1\/providers(\/|$)/, "providers"],
  [/^\/api\/v1\/statistics(\/|$)/, "statistics"],
  [/^\/api\/v1\/categories(\/|$)/, "categories"],
  [/^\/(api\/v1|data\/v2)\/reports?(\/|$)/, "reports"]
]

/**
 * The resource a path belongs to, by its leading segments.
 *
 * @since 0.1.0
 * @category policy
 */
export const resourceOf = (path: string): Resource => {
  for (const [pattern, resource] of segmentResource) {
    if (pattern.test(path)) return resource
  }
  return "default"
}

/**
 * The TTL for a path, with configured overrides taking precedence over the defaults.
 *
 * @since 0.1.0
 * @category policy
 */
export const ttlFor = (
  path: string,
  overrides: Partial<Record<Resource, Duration.Duration>> = {}
): Duration.Duration => {
  const resource = resourceOf(path)
  return overrides[resource] ?? defaultTtl[resource]
}

/**
 * Query parameters as ordered pairs, so repeated names (`items=a&items=b`) survive.
 *
 * @since 0.1.0
 * @category models
 */
export type QueryParams = ReadonlyArray<readonly [string, string]>

/**
 * The cache key of a request: path and query (and the method, when it is not GET). Every
 * repeated value is kept and the pairs are sorted, so the same query in another order shares the
 * entry while a different set of values never does. Components are percent-encoded, so no value
 * can forge a separator. A plain GET is keyed by its path alone: the string is usually a
 * constant, which keeps the cache-hit path free of string building.
 *
 * @since 0.1.0
 * @category policy
 */
export const requestKey = (method: string, path: string, query: QueryParams = []): string => {
  const target = method === "GET" ? path : `${method} ${path}`
  if (query.length === 0) return target
  const encoded = query.map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
  encoded.sort()
  return `${target}?${encoded.join("&")}`
}
