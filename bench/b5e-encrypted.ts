/**
 * B5e: the B5 hit (a cached `Users.listCredentials()` from the Redis store) with the values
 * encrypted (`encryption`, AES-256-GCM bound to the key), against the same hit without, interleaved.
 */
import type { TinkClient } from "@tink-effect/core"
import { TinkUser } from "@tink-effect/core"
import { RedisResponseStore } from "@tink-effect/platform-node"
import { Users } from "@tink-effect/users"
import { Effect, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { createClient } from "redis"
import { type Measurement, measurePair } from "./harness.js"
import { fixedListServer } from "./servers.js"
import { nodeRuntime } from "./stack.js"

export interface B5e {
  readonly encrypted: Measurement
  readonly clear: Measurement
  /** Upstream requests during both measurements: 2 (each store's first read), plus one per store each time the 30 s TTL ran out. */
  readonly upstream: number
  /** Whether the encrypted store's entry was sealed in Redis (checked, not assumed). */
  readonly sealed: boolean
}

export const run = async (): Promise<B5e> => {
  const id = Math.random().toString(36).slice(2, 8)
  const server = await fixedListServer()
  const key = Redacted.make(randomBytes(32).toString("base64"))
  const sealedNs = `tink-bench-e-${id}`
  const clearNs = `tink-bench-c-${id}`
  const encrypted = nodeRuntime(
    server.url,
    RedisResponseStore.layer({ namespace: sealedNs, timeout: "1 second", encryption: { keys: [key] } })
  )
  const clear = nodeRuntime(server.url, RedisResponseStore.layer({ namespace: clearNs, timeout: "1 second" }))
  // A session without a user id (scoped by its token's hash): the fixed list, which carries no
  // `userId`, is attributable to it and cached.
  const user = TinkUser.makeSync({ accessToken: Redacted.make(`bench-e-${id}`) })
  const provided = <A, E>(effect: Effect.Effect<A, E, TinkUser.TinkUser | TinkClient.TinkClient>) =>
    Effect.provideService(effect, TinkUser.TinkUser, user)
  const read = Users.listCredentials()
  await encrypted.runPromise(provided(read))
  await clear.runPromise(provided(read))
  const [sealedHit, clearHit] = await measurePair(
    (n) => encrypted.runPromise(provided(Effect.repeatN(read, n - 1))).then(() => undefined),
    (n) => clear.runPromise(provided(Effect.repeatN(read, n - 1))).then(() => undefined),
    { iterations: 2_000, samples: 9 }
  )
  const upstream = server.served()
  const admin = createClient({ url: "redis://127.0.0.1:6379" })
  await admin.connect()
  const [entryKey] = await admin.keys(`${sealedNs}:e:*`)
  const sealed = entryKey !== undefined && (await admin.get(entryKey))?.startsWith("tk1.") === true
  for (const ns of [sealedNs, clearNs]) {
    for (const k of await admin.keys(`${ns}:*`)) await admin.unlink(k)
  }
  await admin.close()
  await encrypted.dispose()
  await clear.dispose()
  await server.close()
  return { encrypted: sealedHit, clear: clearHit, upstream, sealed }
}
