import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"

/**
 * Three credentials of the user `bench-user`, as Tink would list them: every bench session names
 * that user (with its own token), so the answers are that session's and may be cached.
 */
export const credentialsBody = JSON.stringify({
  credentials: [1, 2, 3].map((n) => ({
    id: `c0ffee${n}`,
    providerName: "se-demobank-password",
    type: "PASSWORD",
    status: "UPDATED",
    statusPayload: null,
    statusUpdated: 1_700_000_000_000,
    updated: 1_700_000_000_000,
    fields: { username: `user${n}` },
    userId: "bench-user",
    sessionExpiryDate: null
  }))
})

/**
 * A local server answering every request with the fixed credentials list, after `delayMs`, and
 * counting what it served: the upstream of B2 and B3.
 */
export const fixedListServer = async (delayMs = 0) => {
  let served = 0
  let firstArrival: number | undefined
  const server: Server = createServer((_request, response) => {
    served++
    firstArrival ??= Number(process.hrtime.bigint()) / 1e6
    const answer = () => {
      response.writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(credentialsBody)
      })
      response.end(credentialsBody)
    }
    if (delayMs > 0) setTimeout(answer, delayMs)
    else answer()
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served: () => served,
    /** When the first request since the last reset arrived, in `hrtime` milliseconds. */
    firstArrival: () => firstArrival,
    reset: () => {
      served = 0
      firstArrival = undefined
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
