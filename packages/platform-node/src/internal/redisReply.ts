import type { ResponseCache } from "@tink-effect/core"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { RedisStoreError } from "./redisErrors.js"
import type { ServerCheck } from "./redisServerCheck.js"

/**
 * A reply of the read script, checked, parsed and decoded without further effect steps. An entry
 * that does not decode is reported by where (the paths in the value), never by what: cached
 * values are users' data. The generation's epoch is noted, to log a change of data set.
 *
 * @internal
 */
export const decodeRead = <A, I>(
  reply: unknown,
  schema: Schema.Schema<A, I>,
  server: ServerCheck
): ResponseCache.StoreRead<A> | RedisStoreError => {
  if (
    !Array.isArray(reply) || reply.length !== 2 || typeof reply[0] !== "string" ||
    (reply[1] !== null && typeof reply[1] !== "string")
  ) return new RedisStoreError({ operation: "read", cause: "unexpected reply" })
  const generation = reply[0]
  server.noteGeneration(generation)
  const raw = reply[1] as string | null
  if (raw === null) return { generation, value: Option.none() }
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch {
    return new RedisStoreError({ operation: "decode", cause: "invalid JSON" })
  }
  const decoded = Schema.decodeUnknownEither(schema)(json)
  if (decoded._tag === "Right") return { generation, value: Option.some(decoded.right) }
  const paths = ParseResult.ArrayFormatter.formatErrorSync(decoded.left).map((issue) =>
    issue.path.map((key) => typeof key === "number" ? `[${key}]` : `.${String(key)}`).join("") || "."
  )
  return new RedisStoreError({ operation: "decode", cause: `not the schema's shape at ${paths.join(" ")}` })
}
