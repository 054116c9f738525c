/**
 * B2: an uncached GET (a cache miss, then the store write) through the whole stack over undici
 * to a local server returning a fixed credentials list, against undici `request()` plus
 * `JSON.parse` of the same answer. Sequential, and 32 at a time.
 */
import { ResponseCache, TinkUser } from "@tink-effect/core"
import { Users } from "@tink-effect/users"
import { Effect } from "effect"
import { Agent, request } from "undici"
import { type Measurement, measurePair } from "./harness.js"
import { fixedListServer } from "./servers.js"
import { nodeRuntime, sessions } from "./stack.js"

export interface B2 {
  readonly sequential: readonly [Measurement, Measurement]
  readonly concurrent: readonly [Measurement, Measurement]
}

const path = "/api/v1/credentials/list"

export const run = async (): Promise<B2> => {
  const server = await fixedListServer()
  const runtime = nodeRuntime(server.url, ResponseCache.layerMemory({ capacity: 1_000_000 }))
  const users = await sessions(60_000)
  let next = 0
  const miss = Users.listCredentials().pipe(
    Effect.provideServiceEffect(TinkUser.TinkUser, Effect.sync(() => users[next++]!))
  )
  const dispatcher = new Agent({ keepAliveTimeout: 60_000 })
  const raw = async () => {
    const response = await request(`${server.url}${path}`, {
      dispatcher,
      headers: { accept: "application/json", authorization: "Bearer token" }
    })
    return JSON.parse(await response.body.text()) as unknown
  }
  const pool = async (n: number, concurrency: number) => {
    let remaining = n
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (remaining-- > 0) await raw()
    }))
  }
  const ours = (concurrency: number) => (n: number) =>
    runtime.runPromise(Effect.forEach(Array.from({ length: n }), () => miss, { concurrency, discard: true }))

  const sequential = await measurePair(ours(1), (n) => pool(n, 1), { iterations: 1_000, samples: 9, warmup: 2 })
  const concurrent = await measurePair(ours(32), (n) => pool(n, 32), { iterations: 2_000, samples: 9, warmup: 2 })
  await runtime.dispose()
  await dispatcher.close()
  await server.close()
  return { sequential, concurrent }
}
