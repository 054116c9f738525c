import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"

/**
 * What the proxy does to traffic, switchable at any time:
 * - `open`: forwards both ways;
 * - `latency`: forwards every chunk `millis` after it arrived;
 * - `pause`: holds every chunk until the mode changes;
 * In every mode and across changes of mode, no chunk overtakes one that arrived before it in the
 * same direction: the byte streams stay intact, only their timing changes.
 * - `cut`: destroys every connection, and new ones as soon as they are accepted;
 * - `refuse`: stops listening, so connecting fails with ECONNREFUSED (certainly not sent);
 * - `resetBeforeRequest`: a client's bytes are never forwarded: its connection is reset as soon
 *   as it sends (the request left the client but never reached the server);
 * - `resetAfterRequest`: the request is forwarded, and the connection is reset as soon as the
 *   server starts answering (the server processed it; the client never learns the outcome).
 */
export type Mode =
  | { readonly _tag: "open" }
  | { readonly _tag: "latency"; readonly millis: number }
  | { readonly _tag: "pause" }
  | { readonly _tag: "cut" }
  | { readonly _tag: "refuse" }
  | { readonly _tag: "resetBeforeRequest" }
  | { readonly _tag: "resetAfterRequest" }

export interface FaultProxy {
  readonly port: number
  readonly host: string
  readonly set: (mode: Mode) => Effect.Effect<void>
  /** Connections reset by the proxy so far (cut, resetBeforeRequest, resetAfterRequest). */
  readonly resets: Effect.Effect<number>
  readonly connections: Effect.Effect<number>
}

/** Chunks on their way to one socket, in arrival order; none overtakes another, whatever the mode. */
interface Outbox {
  readonly items: Array<{ readonly chunk: Buffer; readonly due: number }>
  timer: ReturnType<typeof setTimeout> | undefined
}

interface Link {
  readonly client: Net.Socket
  readonly upstream: Net.Socket
  readonly toClient: Outbox
  readonly toUpstream: Outbox
}

export const make = (target: { readonly host: string; readonly port: number }): Effect.Effect<
  FaultProxy,
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    let mode: Mode = { _tag: "open" }
    let resets = 0
    let connections = 0
    const links = new Set<Link>()

    const destroy = (link: Link) => {
      for (const box of [link.toClient, link.toUpstream]) {
        if (box.timer !== undefined) clearTimeout(box.timer)
        box.items.length = 0
      }
      links.delete(link)
      link.client.destroy()
      link.upstream.destroy()
    }
    const reset = (link: Link) => {
      if (!links.has(link)) return
      resets++
      link.client.resetAndDestroy()
      destroy(link)
    }

    const onConnection = (client: Net.Socket) => {
      connections++
      if (mode._tag === "cut") {
        resets++
        client.resetAndDestroy()
        return
      }
      const upstream = Net.connect(target.port, target.host)
      const link: Link = {
        client,
        upstream,
        toClient: { items: [], timer: undefined },
        toUpstream: { items: [], timer: undefined }
      }
      links.add(link)
      client.on("data", (chunk: Buffer) => {
        if (mode._tag === "resetBeforeRequest" || mode._tag === "cut") return reset(link)
        enqueue(link, upstream, link.toUpstream, chunk)
      })
      upstream.on("data", (chunk: Buffer) => {
        if (mode._tag === "resetAfterRequest" || mode._tag === "cut") return reset(link)
        enqueue(link, client, link.toClient, chunk)
      })
      for (const socket of [client, upstream]) {
        socket.on("error", () => destroy(link))
        socket.on("close", () => destroy(link))
      }
    }

    const enqueue = (link: Link, to: Net.Socket, box: Outbox, chunk: Buffer) => {
      box.items.push({ chunk, due: Date.now() + (mode._tag === "latency" ? mode.millis : 0) })
      pump(link, to, box)
    }
    /** Writes what is due, in order; a pause holds everything until the mode changes. */
    const pump = (link: Link, to: Net.Socket, box: Outbox) => {
      if (box.timer !== undefined) clearTimeout(box.timer)
      box.timer = undefined
      while (box.items.length > 0 && mode._tag !== "pause") {
        const wait = box.items[0]!.due - Date.now()
        if (wait > 0) {
          box.timer = setTimeout(() => pump(link, to, box), wait)
          return
        }
        const { chunk } = box.items.shift()!
        if (links.has(link)) to.write(chunk)
      }
    }
    const pumpAll = () => {
      for (const link of links) {
        pump(link, link.upstream, link.toUpstream)
        pump(link, link.client, link.toClient)
      }
    }

    let server = Net.createServer(onConnection)
    const listen = (port: number) =>
      Effect.async<number>((resume) => {
        server.listen(port, "127.0.0.1", () => resume(Effect.succeed((server.address() as Net.AddressInfo).port)))
      })
    const closeServer = Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })

    const port = yield* Effect.acquireRelease(listen(0), () =>
      Effect.suspend(() => {
        for (const link of links) destroy(link)
        return server.listening ? closeServer : Effect.void
      }))

    const set = (next: Mode): Effect.Effect<void> =>
      Effect.suspend(() => {
        mode = next
        pumpAll()
        if (next._tag === "cut") {
          for (const link of links) reset(link)
        }
        if (next._tag === "refuse" && server.listening) {
          // As if the server went away: open connections die too, new ones are refused.
          for (const link of links) destroy(link)
          return closeServer
        }
        if (next._tag !== "refuse" && !server.listening) {
          server = Net.createServer(onConnection)
          return Effect.asVoid(listen(port))
        }
        return Effect.void
      })

    return {
      port,
      host: "127.0.0.1",
      set,
      resets: Effect.sync(() => resets),
      connections: Effect.sync(() => connections)
    }
  })
