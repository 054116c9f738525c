import { ResponseCache } from "@tink-effect/core"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import type * as Schema from "effect/Schema"
import { Refusal } from "./cacheCrypto.js"
import type { DecodeMemo } from "./redisDecodeMemo.js"
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
 * With `open` (encryption on), the stored value is opened first, under the generation read: a
 * value it refuses is an error of operation `"open"` whose cause is the refusal's reason.
 *
 * With `memo`, a stored value identical to one decoded before for the same entry is not opened
 * nor decoded again (see `DecodeMemo`); values decoded are then deeply frozen.
 *
 * @internal
 */
export const decodeRead = <A, I>(
  reply: unknown,
  schema: Schema.Schema<A, I>,
  server: ServerCheck,
  open?: ((generation: string, stored: string) => string | Refusal) | undefined,
  memo?: { readonly decoded: DecodeMemo; readonly scope: string; readonly key: string } | undefined
): DecodedRead<A> | RedisStoreError => {
  if (
    !Array.isArray(reply) || (reply.length !== 2 && reply.length !== 3) || typeof reply[0] !== "string" ||
    (reply[1] !== null && typeof reply[1] !== "string") ||
    (reply.length === 3 && (reply[1] === null || typeof reply[2] !== "number"))
  ) return new RedisStoreError({ operation: "read", cause: "unexpected reply" })
  const generation = reply[0]
  server.noteGeneration(generation)
  const stored = reply[1] as string | null
  if (stored === null) return { generation, value: Option.none(), ttlMs: undefined }
  const ttlMs = reply.length === 3 ? reply[2] as number : undefined
  const known = memo?.decoded.get(memo.scope, memo.key, generation, stored, schema) as Option.Some<A> | undefined
  if (known !== undefined) return { generation, value: known, ttlMs }
  const raw = open === undefined ? stored : open(generation, stored)
  if (raw instanceof Refusal) return new RedisStoreError({ operation: "open", cause: raw.reason })
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch {
    return new RedisStoreError({ operation: "decode", cause: "invalid JSON" })
  }
  const decoded = ResponseCache.decoderOf(schema)(json)
  if (decoded._tag === "Right") {
    const value = Option.some(decoded.right) as Option.Some<A>
    return {
      generation,
      value: memo === undefined ? value : memo.decoded.set(memo.scope, memo.key, generation, stored, schema, value),
      ttlMs
    }
  }
  const paths = ParseResult.ArrayFormatter.formatErrorSync(decoded.left).map((issue) =>
    issue.path.map((key) => typeof key === "number" ? `[${key}]` : `.${String(key)}`).join("") || "."
  )
  return new RedisStoreError({ operation: "decode", cause: `not the schema's shape at ${paths.join(" ")}` })
}
