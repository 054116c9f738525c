/**
 * B2: an uncached GET (a cache miss, then the store write) through the whole stack to a local
 * server returning a fixed credentials list, against undici `request()` plus `JSON.parse` of the
 * same answer. Sequential, and 32 at a time; over the lean transport (`NodeTinkHttpClient`, what
 * `NodeTink` uses) and over the platform's `NodeHttpClient.layerUndici`.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { ResponseCache, TinkUser } from "@tink-effect/core"
import { Users } from "@tink-effect/users"
import { Effect, type Layer } from "effect"
import { Agent, request } from "undici"
import { type Measurement, measurePair } from "./harness.js"
import { fixedListServer } from "./servers.js"
import { nodeRuntime, sessions, transports } from "./stack.js"

export interface Pair {
  readonly sequential: readonly [Measurement, Measurement]
  readonly concurrent: readonly [Measurement, Measurement]
}

export interface B2 {
  readonly lean: Pair
  readonly layerUndici: Pair
}

const path = "/api/v1/credentials/list"

const measureWith = async (transport: Layer.Layer<HttpClient.HttpClient>): Promise<Pair> => {
  const server = await fixedListServer()
  const runtime = nodeRuntime(server.url, ResponseCache.layerMemory({ capacity: 1_000_000 }), transport)
  // Every read has its own session, so each one misses; the reads are built beforehand, so a read
  // costs what a handler's read costs (its session is provided once, as `asUser` does).
  const reads = (await sessions(40_000)).map((user) =>
    Users.listCredentials().pipe(Effect.provideService(TinkUser.TinkUser, user))
  )
  let next = 0
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
    runtime.runPromise(Effect.forEach(reads.slice(next, next += n), (read) => read, { concurrency, discard: true }))

  const sequential = await measurePair(ours(1), (n) => pool(n, 1), { iterations: 1_000, samples: 9, warmup: 2 })
  const concurrent = await measurePair(ours(32), (n) => pool(n, 32), { iterations: 2_000, samples: 9, warmup: 2 })
  await runtime.dispose()
  await dispatcher.close()
  await server.close()
  return { sequential, concurrent }
}

export const run = async (): Promise<B2> => {
  const lean = await measureWith(transports.lean)
  const layerUndici = await measureWith(transports.layerUndici)
  return { lean, layerUndici }
}
