import * as Effect from "effect/Effect"
import type { Connection } from "./redisConnection.js"
import { reasonOf, RedisStoreError } from "./redisErrors.js"

/** `size` stops counting here: it is a SCAN, O(keys in the database). */
const sizeCap = 100_000

const escapeGlob = (text: string): string => text.replace(/[*?[\]\\]/g, "\\$&")

/**
 * Entries under the namespace (every generation, until their TTL), counted with SCAN (on each
 * primary of a cluster). That is
 * O(keys in the database), so it runs for `stats` only, never on a read, write or invalidation,
 * and stops at 100 000. If Redis fails meanwhile, the last count is returned.
 *
 * @internal
 */
export const make = (connection: Connection, namespace: string): Effect.Effect<number> => {
  let lastSize = 0
  const match = `${escapeGlob(namespace)}:e:*`
  type Send = ReturnType<Connection["primaries"]>[number]
  const loop = (send: Send, cursor: string, count: number): Effect.Effect<number, RedisStoreError> =>
    send("size", ["SCAN", cursor, "MATCH", match, "COUNT", "1000"]).pipe(
      Effect.flatMap((reply) => {
        if (!Array.isArray(reply) || typeof reply[0] !== "string" || !Array.isArray(reply[1])) {
          return Effect.fail(new RedisStoreError({ operation: "size", cause: "unexpected reply" }))
        }
        const total = count + reply[1].length
        return reply[0] === "0" || total >= sizeCap ?
          Effect.succeed(Math.min(total, sizeCap)) :
          loop(send, reply[0], total)
      })
    )
  // On a cluster, each primary holds its own slots: the count is their sum.
  const all = Effect.suspend(() =>
    Effect.reduce(
      connection.primaries(),
      0,
      (total, send) =>
        total >= sizeCap
          ? Effect.succeed(total)
          : Effect.map(loop(send, "0", 0), (count) => Math.min(sizeCap, total + count))
    )
  )
  return all.pipe(
    Effect.tap((count) => {
      lastSize = count
    }),
    // Not a store error in the sense of `errors` (nothing was served as a miss): just logged.
    Effect.catchAll((error) =>
      Effect.as(
        Effect.logDebug("Redis response cache: size failed").pipe(Effect.annotateLogs("reason", reasonOf(error.cause))),
        lastSize
      )
    )
  )
}
