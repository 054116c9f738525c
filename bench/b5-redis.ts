/**
 * B5: a cached `Users.listCredentials()` served from the Redis store (one Lua round trip; the
 * stored value parsed and decoded once, then reused while Redis returns the same bytes: see
 * `redisDecodeMemo.ts`) against node-redis `GET` plus `JSON.parse` of the same stored value.
 */
import { ResponseCache, type TinkClient, TinkUser } from "@tink-effect/core"
import { RedisResponseStore } from "@tink-effect/platform-node"
import { Users } from "@tink-effect/users"
import { Effect } from "effect"
import { createClient } from "redis"
import { type Measurement, measurePair } from "./harness.js"
import { credentialsBody, fixedListServer } from "./servers.js"
import { nodeRuntime, sessions } from "./stack.js"

export interface B5 {
  readonly hit: Measurement
  readonly get: Measurement
  /** Upstream requests during the hit measurement: 1 (the first read) when every other read hit. */
  readonly upstream: number
  /** A read while Redis is unreachable (served from upstream), against a read with no cache. */
  readonly down: readonly [Measurement, Measurement]
}

export const run = async (): Promise<B5> => {
  const namespace = `tink-bench-${Math.random().toString(36).slice(2, 8)}`
  const server = await fixedListServer()
  const runtime = nodeRuntime(server.url, RedisResponseStore.layer({ namespace, timeout: "1 second" }))
  const [user] = await sessions(1)
  // The session is provided once per batch, as a handler's `asUser` does, not once per read.
  const provided = <A, E>(effect: Effect.Effect<A, E, TinkUser.TinkUser | TinkClient.TinkClient>) =>
    Effect.provideService(effect, TinkUser.TinkUser, user!)
  const read = Users.listCredentials()
  await runtime.runPromise(provided(read))
  const admin = createClient({ url: "redis://127.0.0.1:6379" })
  await admin.connect()
  // The stored entry: the longest string value under the namespace (the key layout is the store's).
  let entryKey: string | undefined
  let longest = -1
  for (const key of await admin.keys(`${namespace}*`)) {
    if ((await admin.type(key)) !== "string") continue
    const length = await admin.strLen(key)
    if (length > longest) [entryKey, longest] = [key, length]
  }
  const [hit, get] = await measurePair(
    (n) => runtime.runPromise(provided(Effect.repeatN(read, n - 1))).then(() => undefined),
    async (n) => {
      // The stored value may be framed or encrypted by the store: the baseline fetches it (the same
      // bytes over the wire) and parses the plain JSON of the same list.
      for (let i = 0; i < n; i++) {
        await admin.get(entryKey!)
        JSON.parse(credentialsBody)
      }
    },
    { iterations: 2_000, samples: 9 }
  )
  // Reported, never thrown: a violated invariant makes the row fail instead of the bench crash.
  const upstream = server.served()
  for (const key of await admin.keys(`${namespace}*`)) await admin.unlink(key)
  await admin.close()
  await runtime.dispose()

  // Nothing listens on port 1: the store is offline, so every read goes to the server at once.
  const down = nodeRuntime(server.url, RedisResponseStore.layer({ url: "redis://127.0.0.1:1", namespace }))
  const uncached = nodeRuntime(server.url, ResponseCache.layerMemory({ capacity: 1 }))
  const bypassed = ResponseCache.bypass(read)
  await down.runPromise(provided(read))
  const pair = await measurePair(
    (n) => down.runPromise(provided(Effect.repeatN(read, n - 1))).then(() => undefined),
    (n) => uncached.runPromise(provided(Effect.repeatN(bypassed, n - 1))).then(() => undefined),
    { iterations: 500, samples: 9 }
  )
  await down.dispose()
  await uncached.dispose()
  await server.close()
  return { hit, get, upstream, down: pair }
}
