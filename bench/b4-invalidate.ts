/**
 * B4: invalidating one user while 100 000 entries of other users are cached, in the memory
 * store and in Redis, against the same with 10 entries, and against a prefix scan-and-delete
 * (the Elixir library's way) over the same data. Generation bumps stay flat; the scan grows.
 */
import { ResponseCache } from "@tink-effect/core"
import { RedisResponseStore } from "@tink-effect/platform-node"
import { Duration, Effect, Exit, Schema, Scope } from "effect"
import { createClient } from "redis"
import { measure, type Measurement } from "./harness.js"

export interface Pair {
  readonly small: Measurement
  readonly large: Measurement
}

export interface B4 {
  readonly memory: Pair
  readonly memoryScan: Pair
  readonly redis: Pair
  readonly redisScan: Pair
}

const value = { credentials: ["a", "b", "c"] }
const schema = Schema.Struct({ credentials: Schema.Array(Schema.String) })

const fill = (cache: ResponseCache.Service, entries: number) =>
  Effect.forEach(
    Array.from({ length: entries }, (_, i) => i),
    (i) =>
      cache.lookup({
        scope: `u:other-${i}`,
        key: "/api/v1/credentials/list",
        ttl: Duration.minutes(10),
        schema,
        fetch: Effect.succeed(value)
      }),
    { discard: true, concurrency: 64 }
  )

const memoryCase = async (entries: number): Promise<readonly [Measurement, Measurement]> => {
  const cache = await Effect.runPromise(
    Effect.flatMap(
      Scope.make(),
      (scope) => ResponseCache.make(ResponseCache.makeMemoryStore({ capacity: 200_000 })).pipe(Scope.extend(scope))
    )
  )
  await Effect.runPromise(fill(cache, entries))
  const bump = await measure((n) => {
    for (let i = 0; i < n; i++) Effect.runSync(cache.invalidate("u:target"))
  }, { iterations: 10_000, samples: 9 })
  // The Elixir way: every key of the cache, filtered by the user's prefix.
  const keys = new Map<string, unknown>()
  for (let i = 0; i < entries; i++) keys.set(`user:other-${i}:/api/v1/credentials/list`, value)
  const scan = await measure((n) => {
    for (let i = 0; i < n; i++) {
      keys.set("user:target:/api/v1/credentials/list", value)
      for (const key of keys.keys()) if (key.startsWith("user:target:")) keys.delete(key)
    }
  }, { iterations: 20, samples: 9 })
  return [bump, scan]
}

const redisCase = async (entries: number): Promise<readonly [Measurement, Measurement]> => {
  const namespace = `tink-bench-${Math.random().toString(36).slice(2, 8)}`
  const admin = createClient({ url: "redis://127.0.0.1:6379" })
  await admin.connect()
  for (let start = 0; start < entries; start += 1000) {
    const batch = admin.multi()
    for (let i = start; i < Math.min(entries, start + 1000); i++) {
      batch.set(`${namespace}:e:{u:other-${i}}:1:/api/v1/credentials/list`, JSON.stringify(value), { PX: 600_000 })
    }
    await batch.exec()
  }
  const scope = await Effect.runPromise(Scope.make())
  const cache = await Effect.runPromise(
    RedisResponseStore.make({ namespace, timeout: "1 second" }).pipe(
      Effect.flatMap(ResponseCache.make),
      Scope.extend(scope)
    )
  )
  const bump = await measure(
    (n) => Effect.runPromise(Effect.repeatN(cache.invalidate("u:target"), n - 1)),
    { iterations: 200, samples: 9 }
  )
  const scan = await measure(async (n) => {
    for (let i = 0; i < n; i++) {
      await admin.set(`${namespace}:e:{u:target}:1:/api/v1/credentials/list`, "{}")
      for await (const keys of admin.scanIterator({ MATCH: `${namespace}:e:{u:target}:*`, COUNT: 1000 })) {
        if (keys.length > 0) await admin.del(keys)
      }
    }
  }, { iterations: 2, samples: 5, warmup: 1 })
  await Effect.runPromise(Scope.close(scope, Exit.void))
  for await (const keys of admin.scanIterator({ MATCH: `${namespace}:*`, COUNT: 1000 })) {
    if (keys.length > 0) await admin.unlink(keys)
  }
  await admin.close()
  return [bump, scan]
}

export const run = async (): Promise<B4> => {
  const [memorySmall, memoryScanSmall] = await memoryCase(10)
  const [memoryLarge, memoryScanLarge] = await memoryCase(100_000)
  const [redisSmall, redisScanSmall] = await redisCase(10)
  const [redisLarge, redisScanLarge] = await redisCase(100_000)
  return {
    memory: { small: memorySmall, large: memoryLarge },
    memoryScan: { small: memoryScanSmall, large: memoryScanLarge },
    redis: { small: redisSmall, large: redisLarge },
    redisScan: { small: redisScanSmall, large: redisScanLarge }
  }
}
