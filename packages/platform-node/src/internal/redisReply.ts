import type { ResponseCache } from "@tink-effect/core"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { RedisStoreError } from "./redisErrors.js"
import type { ServerCheck } from "./redisServerCheck.js"

/**
 * A read as decoded, with the entry's remaining TTL in ms when the script reported it
 * (`readTracked`; negative when Redis keeps it without one, never the case for entries).
 *
 * @internal
 */
export interface DecodedRead<A> extends ResponseCache.StoreRead<A> {
  readonly ttlMs: number | undefined
}

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
): DecodedRead<A> | RedisStoreError => {
  if (
    !Array.isArray(reply) || (reply.length !== 2 && reply.length !== 3) || typeof reply[0] !== "string" ||
    (reply[1] !== null && typeof reply[1] !== "string") ||
    (reply.length === 3 && (reply[1] === null || typeof reply[2] !== "number"))
  ) return new RedisStoreError({ operation: "read", cause: "unexpected reply" })
  const generation = reply[0]
  server.noteGeneration(generation)
  const raw = reply[1] as string | null
  if (raw === null) return { generation, value: Option.none(), ttlMs: undefined }
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch {
    return new RedisStoreError({ operation: "decode", cause: "invalid JSON" })
  }
  const decoded = Schema.decodeUnknownEither(schema)(json)
  if (decoded._tag === "Right") {
    return { generation, value: Option.some(decoded.right), ttlMs: reply.length === 3 ? reply[2] as number : undefined }
  }
  const paths = ParseResult.ArrayFormatter.formatErrorSync(decoded.left).map((issue) =>
    issue.path.map((key) => typeof key === "number" ? `[${key}]` : `.${String(key)}`).join("") || "."
  )
  return new RedisStoreError({ operation: "decode", cause: `not the schema's shape at ${paths.join(" ")}` })
}
