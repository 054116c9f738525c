/**
 * How long a response may be served from the cache, and under which key. Kept as plain
 * functions so the TTL table and key shape can be tested and reasoned about on their own.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type * as Schema from "effect/Schema"

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

/** A lone surrogate: a UTF-16 code unit that is half of a pair whose other half is missing. */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/**
 * `encodeURIComponent`, made total: a lone surrogate has no UTF-8 form and makes it throw, so it
 * is written `%u` and its four hex digits instead. That form never comes out of
 * `encodeURIComponent` ("u" is not a hex digit, and a "%" in the input is encoded), so distinct
 * strings keep distinct keys. Such a query is not sent: the request pipeline rejects it.
 */
const encodeComponent = (value: string): string => {
  try {
    return encodeURIComponent(value)
  } catch {
    let out = ""
    let from = 0
    for (const match of value.matchAll(loneSurrogate)) {
      out += encodeURIComponent(value.slice(from, match.index)) +
        `%u${match[0].charCodeAt(0).toString(16).toUpperCase()}`
      from = match.index + 1
    }
    return out + encodeURIComponent(value.slice(from))
  }
}

/**
 * The cache key of a request: path and query (and the method, when it is not GET). Every
 * repeated value is kept and the pairs are sorted, so the same query in another order shares the
 * entry while a different set of values never does. Components are percent-encoded, so no value
 * can forge a separator, and any string gives a key (a lone surrogate included). A plain GET is
 * keyed by its path alone: the string is usually a constant, which keeps the cache-hit path free
 * of string building.
 *
 * @since 0.1.0
 * @category policy
 */
export const requestKey = (method: string, path: string, query?: QueryParams): string => {
  const target = method === "GET" ? path : `${method} ${path}`
  if (query === undefined || query.length === 0) return target
  const encoded = query.map(([name, value]) => `${encodeComponent(name)}=${encodeComponent(value)}`)
  encoded.sort()
  return `${target}?${encoded.join("&")}`
}

/**
 * An entry's key within its scope: the partition (the session's token hash), the fingerprint of
 * the response schema, and the request key. A value is only served to a read that would decode
 * it with the same schema; the Redis store keys its entries with this string as is.
 *
 * @since 0.1.0
 * @category policy
 */
export const entryKey = (partition: string, fingerprint: string, request: string): string =>
  `${partition}\u0000${fingerprint}\u0000${request}`

const fingerprints = new WeakMap<object, string>()

/**
 * A short, stable fingerprint of a schema: a 64-bit hash of its AST rendered to text (node
 * kinds, literals, property names, annotations such as identifiers and filter parameters, and
 * the source text of the functions it holds). The same code gives the same fingerprint in every
 * process, so instances sharing a Redis agree on keys; it is a hash of the schema alone and
 * holds no data. What a closure hides is not seen: Effect wraps the functions given to
 * `Schema.transform` or `Schema.filter` in closures of its own, so two schemas that differ only
 * there share a fingerprint; give them an `identifier` annotation to tell them apart. Memoized
 * per schema object: reuse schema objects on hot paths.
 *
 * @since 0.1.0
 * @category policy
 */
export const schemaFingerprint = (schema: Schema.Schema.All): string => {
  let fingerprint = fingerprints.get(schema)
  if (fingerprint === undefined) {
    fingerprint = hash64(render(schema.ast))
    fingerprints.set(schema, fingerprint)
  }
  return fingerprint
}

const symbolText = (symbol: symbol): string => Symbol.keyFor(symbol) ?? symbol.description ?? ""

/**
 * Renders a value (an AST) to text: own data properties in their (deterministic) order, symbol
 * keys by name, functions by their source, a node seen before by its number, so recursive
 * schemas terminate. Lazy (`Suspend`) nodes are rendered through their thunk.
 */
const render = (root: unknown): string => {
  const seen = new Map<object, number>()
  const out: Array<string> = []
  const walk = (value: unknown): void => {
    switch (typeof value) {
      case "string":
        out.push(JSON.stringify(value))
        return
      case "bigint":
        out.push(`${value}n`)
        return
      case "symbol":
        out.push(`@${JSON.stringify(symbolText(value))}`)
        return
      case "function":
        out.push(`fn(${JSON.stringify(Function.prototype.toString.call(value))})`)
        return
      case "object":
        break
      default:
        out.push(Object.is(value, -0) ? "-0" : String(value))
        return
    }
    if (value === null) {
      out.push("null")
      return
    }
    const index = seen.get(value)
    if (index !== undefined) {
      out.push(`#${index}`)
      return
    }
    seen.set(value, seen.size)
    const record = value as Record<PropertyKey, unknown>
    if (record["_tag"] === "Suspend" && typeof record["f"] === "function") {
      out.push("Suspend(")
      walk((record["f"] as () => unknown)())
      out.push(")")
      return
    }
    out.push(Array.isArray(value) ? "[" : "{")
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key)!
      out.push(typeof key === "symbol" ? `@${JSON.stringify(symbolText(key))}:` : `${JSON.stringify(key)}:`)
      if ("value" in descriptor) walk(descriptor.value)
      else out.push("get")
      out.push(",")
    }
    out.push(Array.isArray(value) ? "]" : "}")
  }
  walk(root)
  return out.join("")
}

/** Two 32-bit multiply-xorshift hashes of the text (cyrb53's mixing), as 14 base-36 digits. */
const hash64 = (text: string): string => {
  let h1 = 0xdeadbeef ^ text.length
  let h2 = 0x41c6ce57 ^ text.length
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ code, 2654435761)
    h2 = Math.imul(h2 ^ code, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return (h2 >>> 0).toString(36).padStart(7, "0") + (h1 >>> 0).toString(36).padStart(7, "0")
}
