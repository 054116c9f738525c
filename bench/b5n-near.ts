/**
 * B5n: a repeated `Users.listCredentials()` hit served by the Redis store's near cache (no I/O),
 * against the same hit from the memory store (B1's path), both in a loop inside one Effect
 * program over the whole stack, the session provided once. Also B6 for the near cache: heap per
 * remembered entry (a decoded 3-credential list, each under its own user).
 */
import { ResponseCache, TinkUser } from "@tink-effect/core"
import { RedisResponseStore } from "@tink-effect/platform-node"
import { Schemas, Users } from "@tink-effect/users"
import { Effect, Option, Redacted, Schema } from "effect"
import { createClient } from "redis"
import * as NearCache from "../packages/platform-node/src/internal/redisNearCache.js"
import { type Measurement, measurePair } from "./harness.js"
import { credentialsBody, fixedListServer } from "./servers.js"
import { nodeRuntime } from "./stack.js"

export interface B5n {
  readonly near: Measurement
  readonly memory: Measurement
  /** Reads that reached the upstream server (1 expected per runtime) and Redis (none during the loop). */
  readonly upstream: number
  readonly redisCommandsDuringLoop: number
  readonly bytesPerEntry: number
}

const gc = () => {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error("B5n needs node --expose-gc")
  collect()
  collect()
}

const redisCommands = async (admin: { readonly info: (section: string) => Promise<unknown> }) =>
  Number(/total_commands_processed:(\d+)/.exec(String(await admin.info("stats")))?.[1])

const bytesPerEntry = () => {
  const entries = 20_000
  const decode = Schema.decodeUnknownSync(Schemas.CredentialList)
  const near = NearCache.make({ namespace: "bench", capacity: entries, silenceMs: 1_000 })
  gc()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < entries; i++) {
    const scope = `u:user-${i}`
    near.fillRead(
      near.begin(scope),
      "\u0000fp\u0000GET /api/v1/credentials/list",
      `0123456789abcdef:${i}`,
      Option.some(decode(JSON.parse(credentialsBody))),
      600_000
    )
  }
  gc()
  const after = process.memoryUsage().heapUsed
  if (near.size() !== entries) throw new Error("B5n: the near cache did not keep every entry")
  return (after - before) / entries
}

export const run = async (): Promise<B5n> => {
  const namespace = `tink-bench-${Math.random().toString(36).slice(2, 8)}`
  const server = await fixedListServer()
  const near = nodeRuntime(
    server.url,
    RedisResponseStore.layer({ namespace, timeout: "1 second", nearCache: { capacity: 1000 } })
  )
  const memory = nodeRuntime(server.url, ResponseCache.layerMemory({ capacity: 1000 }))
  // The fixed list's credentials belong to "bench-user": a session of another user id is refused.
  const user = TinkUser.makeSync({ userId: "bench-user", accessToken: Redacted.make("token-near") })
  const loop = (n: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* Users.listCredentials()
    }).pipe(Effect.provideService(TinkUser.TinkUser, user))
  // The miss, then one Redis read that the near cache remembers (the miss's own write ends the
  // tracking of the generation key, so it is read once more).
  await near.runPromise(loop(3))
  await memory.runPromise(loop(1))
  const admin = createClient({ url: "redis://127.0.0.1:6379" })
  await admin.connect()
  const commandsBefore = await redisCommands(admin)
  const [nearHit, memoryHit] = await measurePair(
    (n) => near.runPromise(loop(n)),
    (n) => memory.runPromise(loop(n)),
    { iterations: 20_000, samples: 15 }
  )
  // INFO itself, and the near cache's heartbeat (one probe per 200 ms), are the only commands
  // expected; counted, not asserted (a bench never crashes: the row reports it).
  const commandsDuringLoop = await redisCommands(admin) - commandsBefore
  for (const key of await admin.keys(`${namespace}:*`)) await admin.unlink(key)
  await admin.close()
  await near.dispose()
  await memory.dispose()
  const upstream = server.served()
  await server.close()
  return {
    near: nearHit,
    memory: memoryHit,
    upstream,
    redisCommandsDuringLoop: commandsDuringLoop,
    bytesPerEntry: bytesPerEntry()
  }
}
