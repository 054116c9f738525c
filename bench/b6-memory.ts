/**
 * B6: heap per cached entry (a decoded 3-credential list), and the heap of a cache with
 * capacity 100 000 after 1 000 000 distinct reads: it must stay bounded by the capacity.
 * Needs `--expose-gc`.
 */
import { ResponseCache } from "@tink-effect/core"
import { Schemas } from "@tink-effect/users"
import { Duration, Effect, Exit, Schema, Scope } from "effect"
import { credentialsBody } from "./servers.js"

export interface B6 {
  readonly bytesPerEntry: number
  /** Heap in MB after each 200 000 distinct reads into a 100 000-entry cache. */
  readonly heapSteps: ReadonlyArray<number>
}

const gc = () => {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error("B6 needs node --expose-gc")
  collect()
  collect()
}

const decode = Schema.decodeUnknownSync(Schemas.CredentialList)

const lookups = (cache: ResponseCache.Service, from: number, to: number) =>
  Effect.forEach(
    Array.from({ length: to - from }, (_, i) => from + i),
    (i) =>
      cache.lookup({
        scope: `u:user-${i}`,
        key: "/api/v1/credentials/list",
        ttl: Duration.minutes(10),
        schema: Schemas.CredentialList,
        fetch: Effect.sync(() => decode(JSON.parse(credentialsBody)))
      }),
    { discard: true, concurrency: 64 }
  )

export const run = async (): Promise<B6> => {
  const scope = await Effect.runPromise(Scope.make())
  const build = (capacity: number) =>
    Effect.runPromise(ResponseCache.make(ResponseCache.makeMemoryStore({ capacity })).pipe(Scope.extend(scope)))

  const entries = 20_000
  const perEntry = await build(entries)
  gc()
  const before = process.memoryUsage().heapUsed
  await Effect.runPromise(lookups(perEntry, 0, entries))
  gc()
  const bytesPerEntry = (process.memoryUsage().heapUsed - before) / entries

  const bounded = await build(100_000)
  const heapSteps: Array<number> = []
  for (let step = 0; step < 5; step++) {
    await Effect.runPromise(lookups(bounded, entries + step * 200_000, entries + (step + 1) * 200_000))
    gc()
    heapSteps.push(process.memoryUsage().heapUsed / 1e6)
  }
  await Effect.runPromise(Scope.close(scope, Exit.void))
  return { bytesPerEntry, heapSteps }
}
