import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"

/**
 * A TCP proxy in front of a server (Redis) whose link the test controls:
 * - `pause` stops forwarding: what either side sends is held (and counted in `held`) until
 *   `restore`, on open connections and new ones alike;
 * - `cut` destroys every connection and drops new ones as soon as they arrive;
 * - `restore` forwards again, delivering what was held in order.
 */
export interface TcpProxy {
  readonly port: number
  readonly url: string
  readonly pause: Effect.Effect<void>
  readonly cut: Effect.Effect<void>
  readonly restore: Effect.Effect<void>
  /** Chunks sent by clients and held by a pause, not yet forwarded. */
  readonly held: Effect.Effect<number>
}

interface Link {
  readonly client: Net.Socket
  readonly upstream: Net.Socket
  /** Held chunks, in arrival order, with the socket each must be written to. */
  readonly queue: Array<readonly [Net.Socket, Buffer, "fromClient" | "fromServer"]>
}

export const make = (target: { readonly host: string; readonly port: number }): Effect.Effect<
  TcpProxy,
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    let mode: "open" | "paused" | "cut" = "open"
    const links = new Set<Link>()

    const destroy = (link: Link) => {
      links.delete(link)
      link.client.destroy()
      link.upstream.destroy()
    }

    const server = Net.createServer((client) => {
      if (mode === "cut") {
        client.destroy()
        return
      }
      const upstream = Net.connect(target.port, target.host)
      const link: Link = { client, upstream, queue: [] }
      links.add(link)
      const forward = (to: Net.Socket, direction: "fromClient" | "fromServer") => (chunk: Buffer) => {
        if (mode === "paused") link.queue.push([to, chunk, direction])
        else to.write(chunk)
      }
      client.on("data", forward(upstream, "fromClient"))
      upstream.on("data", forward(client, "fromServer"))
      for (const socket of [client, upstream]) {
        socket.on("error", () => destroy(link))
        socket.on("close", () => destroy(link))
      }
    })

    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as Net.AddressInfo).port)))
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const link of links) destroy(link)
          server.close(() => resume(Effect.void))
        })
    )

    return {
      port,
      url: `redis://127.0.0.1:${port}`,
      pause: Effect.sync(() => {
        mode = "paused"
      }),
      cut: Effect.sync(() => {
        mode = "cut"
        for (const link of links) destroy(link)
      }),
      restore: Effect.sync(() => {
        mode = "open"
        for (const link of links) {
          for (const [to, chunk] of link.queue.splice(0)) to.write(chunk)
        }
      }),
      held: Effect.sync(() => {
        let count = 0
        for (const link of links) count += link.queue.filter(([, , direction]) => direction === "fromClient").length
        return count
      })
    }
  })
