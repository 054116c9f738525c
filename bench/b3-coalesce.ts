/**
 * B3: 1000 concurrent identical cold reads against one read, to a server that answers after
 * 20 ms (a fast Tink): exactly one upstream request, and the wall time of the thousand within
 * twice that of one.
 */
import { ResponseCache, TinkUser } from "@tink-effect/core"
import { Users } from "@tink-effect/users"
import { Effect } from "effect"
import { type Measurement, measurePair } from "./harness.js"
import { fixedListServer } from "./servers.js"
import { nodeRuntime, sessions } from "./stack.js"

export interface B3 {
  readonly thousand: Measurement
  readonly one: Measurement
  /** Upstream requests made per batch of 1000 identical reads, over every sample. */
  readonly upstreamPerBatch: ReadonlyArray<number>
}

export const run = async (): Promise<B3> => {
  const server = await fixedListServer(20)
  const runtime = nodeRuntime(server.url, ResponseCache.layerMemory({ capacity: 10_000 }))
  const users = await sessions(100)
  let next = 0
  const upstreamPerBatch: Array<number> = []
  const coldReads = (readers: number) => async () => {
    const user = users[next++]!
    server.reset()
    await runtime.runPromise(
      Effect.all(Array.from({ length: readers }, () => Users.listCredentials()), { concurrency: "unbounded" }).pipe(
        Effect.provideService(TinkUser.TinkUser, user)
      )
    )
    if (readers > 1) upstreamPerBatch.push(server.served())
  }
  const [thousand, one] = await measurePair(coldReads(1000), coldReads(1), { iterations: 1, samples: 15, warmup: 2 })
  await runtime.dispose()
  await server.close()
  return { thousand, one, upstreamPerBatch }
}
