/**
 * B3: 1000 concurrent identical cold reads, to a server that answers after 20 ms (a fast Tink),
 * against the same 1000-fiber fan-out awaiting one Deferred that one plain read (undici
 * `request()` + `JSON.parse`) resolves. Exactly one upstream request is expected, sent as soon
 * as the first reader starts. "Sent" is when the request is handed to undici (its
 * `undici:request:create` diagnostics event); its arrival at the server is reported beside it,
 * for both sides: undici writes on a reused keep-alive socket only after a `setImmediate`, that
 * is after the 1000 readers' synchronous start, whoever sends.
 */
import { ResponseCache, TinkUser } from "@tink-effect/core"
import { Users } from "@tink-effect/users"
import { Deferred, Effect } from "effect"
import { subscribe, unsubscribe } from "node:diagnostics_channel"
import { Agent, request } from "undici"
import { type Measurement, measurePair } from "./harness.js"
import { fixedListServer } from "./servers.js"
import { nodeRuntime, sessions } from "./stack.js"

export interface B3 {
  readonly thousand: Measurement
  readonly baseline: Measurement
  /** Upstream requests made per batch of 1000 identical reads, over every sample. */
  readonly upstreamPerBatch: ReadonlyArray<number>
  /** Per batch, milliseconds from the first reader's start to the request handed to undici. */
  readonly sentAfterMs: ReadonlyArray<number>
  /** Per batch, milliseconds from the first reader's start to the upstream request's arrival. */
  readonly arrivedAfterMs: ReadonlyArray<number>
  /** The same arrival delay for the baseline's plain read. */
  readonly baselineArrivedAfterMs: ReadonlyArray<number>
}

const readers = 1000
const now = () => Number(process.hrtime.bigint()) / 1e6

export const run = async (): Promise<B3> => {
  const server = await fixedListServer(20)
  const runtime = nodeRuntime(server.url, ResponseCache.layerMemory({ capacity: 10_000 }))
  const users = await sessions(100)
  let next = 0
  const upstreamPerBatch: Array<number> = []
  const sentAfterMs: Array<number> = []
  const arrivedAfterMs: Array<number> = []
  const baselineArrivedAfterMs: Array<number> = []
  let firstCreate: number | undefined
  const onCreate = () => {
    firstCreate ??= now()
  }
  subscribe("undici:request:create", onCreate)
  const coldReads = async () => {
    const user = users[next++]!
    server.reset()
    firstCreate = undefined
    let firstStart: number | undefined
    const reader = Effect.zipRight(Effect.sync(() => firstStart ??= now()), Users.listCredentials())
    await runtime.runPromise(
      Effect.all(Array.from({ length: readers }, () => reader), { concurrency: "unbounded", discard: true }).pipe(
        Effect.provideService(TinkUser.TinkUser, user)
      )
    )
    upstreamPerBatch.push(server.served())
    const arrived = server.firstArrival()
    if (arrived !== undefined && firstStart !== undefined) arrivedAfterMs.push(arrived - firstStart)
    if (firstCreate !== undefined && firstStart !== undefined) sentAfterMs.push(firstCreate - firstStart)
  }
  const dispatcher = new Agent({ keepAliveTimeout: 60_000 })
  const plainRead = Effect.promise(async () => {
    const response = await request(`${server.url}/api/v1/credentials/list`, {
      dispatcher,
      headers: { accept: "application/json" }
    })
    return JSON.parse(await response.body.text()) as unknown
  })
  const fanOut = () => {
    server.reset()
    const start = now()
    return Effect.runPromise(Effect.gen(function*() {
      const deferred = yield* Deferred.make<unknown>()
      let started = false
      // Each of the 1000 fibers awaits the one answer; the first to start makes the plain read.
      const waiter = Effect.suspend(() => {
        if (!started) {
          started = true
          return Effect.zipRight(
            Effect.flatMap(plainRead, (value) => Deferred.succeed(deferred, value)),
            Deferred.await(deferred)
          )
        }
        return Deferred.await(deferred)
      })
      yield* Effect.all(Array.from({ length: readers }, () => waiter), { concurrency: "unbounded", discard: true })
    })).then(() => {
      const arrived = server.firstArrival()
      if (arrived !== undefined) baselineArrivedAfterMs.push(arrived - start)
    })
  }
  const [thousand, baseline] = await measurePair(coldReads, fanOut, { iterations: 1, samples: 15, warmup: 2 })
  await runtime.dispose()
  await dispatcher.close()
  await server.close()
  unsubscribe("undici:request:create", onCreate)
  return {
    thousand,
    baseline,
    upstreamPerBatch: upstreamPerBatch.slice(2),
    sentAfterMs: sentAfterMs.slice(2),
    arrivedAfterMs: arrivedAfterMs.slice(2),
    baselineArrivedAfterMs: baselineArrivedAfterMs.slice(2)
  }
}
