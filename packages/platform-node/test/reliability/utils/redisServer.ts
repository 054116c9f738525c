import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { createClient } from "redis"

/**
 * A redis-server of this test's own, on a free port, that the test may kill, snapshot, fill up and
 * restart: the shared Redis on 6379 must never be paused, killed or reconfigured. Every process
 * started is SIGKILLed and its directory deleted when the scope closes.
 *
 * The server never snapshots by itself (`--save ""`, no AOF): the data set on disk is exactly the
 * one of the last `save`, so `restart` rolls the data back to that moment (a Redis restarted from
 * an older RDB, or a failover to a lagging replica).
 */
export interface RedisServer {
  readonly port: number
  readonly url: string
  /** The server's unix socket, when started with `unixSocket: true`. */
  readonly socketPath: string | undefined
  /** The server's working directory (a fresh temp directory), holding `dump.rdb` after `save`. */
  readonly dir: string
  /** SIGKILL: no shutdown, no save; clients see their connections reset. */
  readonly kill: Effect.Effect<void>
  /**
   * Starts the server on the same port and directory and waits until it accepts connections. It
   * loads `dump.rdb` if a `save` wrote one (use `wipe` first for an empty server).
   */
  readonly start: Effect.Effect<void>
  /** `kill` then `start`: the data set is rolled back to the last `save` (empty if none). */
  readonly restart: Effect.Effect<void>
  /** SAVE: writes the data set to `dump.rdb` now, synchronously. */
  readonly save: Effect.Effect<void>
  /** Deletes `dump.rdb`, so the next `start` is empty. */
  readonly wipe: Effect.Effect<void>
  /** One command on a short-lived connection of its own; an error reply is returned as an `Error`. */
  readonly send: (args: ReadonlyArray<string>) => Effect.Effect<unknown>
  /**
   * Writes filler keys (`filler:<n>`) until the server refuses writes with OOM. Meant for a server
   * started with `--maxmemory <small> --maxmemory-policy noeviction`. Then lowers `maxmemory` to
   * 90 % of the memory in use, so Redis keeps refusing writes while clients come and go (their
   * buffers are freed). Returns the keys written.
   */
  readonly fill: Effect.Effect<number>
}

export interface Options {
  /** Extra redis-server arguments, e.g. `["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"]`. */
  readonly args?: ReadonlyArray<string> | undefined
  /** Also listen on a unix socket in the server's directory (`socketPath`). */
  readonly unixSocket?: boolean | undefined
}

const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Resolves once the server answers PING (it refuses commands while loading a snapshot). */
const answering = (url: string) =>
  Effect.tryPromise(async () => {
    const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 500 } })
    client.on("error", () => undefined)
    try {
      await client.connect()
      await client.ping()
    } finally {
      client.destroy()
    }
  }).pipe(
    Effect.retry(Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(500)))),
    Effect.orDieWith((error) => new Error(`redis-server did not start on ${url}: ${String(error.error)}`))
  )

/** A server with the default arguments only. */
export const make: Effect.Effect<RedisServer, never, Scope.Scope> = Effect.suspend(() => makeWith({}))

export const makeWith = (options: Options): Effect.Effect<RedisServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    const url = `redis://127.0.0.1:${port}`
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "tink-redis-"))),
      (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
    )
    const running = new Set<ChildProcess>()

    const start = Effect.suspend(() => {
      const child = spawn("redis-server", [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--dbfilename",
        "dump.rdb",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
        ...(options.unixSocket === true
          ? ["--unixsocket", Path.join(dir, "redis.sock"), "--unixsocketperm", "700"]
          : []),
        ...(options.args ?? [])
      ], { stdio: "ignore" })
      running.add(child)
      child.once("exit", () => running.delete(child))
      return Effect.zipRight(
        Effect.async<void, Error>((resume) => {
          child.once("spawn", () => resume(Effect.void))
          child.once("error", (error) => resume(Effect.fail(error)))
        }).pipe(
          Effect.orDieWith((error) => new Error(`cannot spawn redis-server: ${error.message}`))
        ),
        answering(url)
      )
    })

    const kill = Effect.async<void>((resume) => {
      const children = Array.from(running)
      if (children.length === 0) return resume(Effect.void)
      let left = children.length
      for (const child of children) {
        child.once("exit", () => {
          if (--left === 0) resume(Effect.void)
        })
        child.kill("SIGKILL")
      }
    })

    const send = (args: ReadonlyArray<string>) =>
      Effect.promise(async () => {
        const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2000 } })
        client.on("error", () => undefined)
        await client.connect()
        try {
          return await client.sendCommand([...args]).catch((error: unknown) => error)
        } finally {
          client.destroy()
        }
      })

    const fill = Effect.promise(async () => {
      const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2000 } })
      client.on("error", () => undefined)
      await client.connect()
      let written = 0
      try {
        // Big values first, then small ones to use up the last bytes below the limit.
        for (const size of [65_536, 1024, 16]) {
          const value = "x".repeat(size)
          for (;;) {
            const refused = await client.sendCommand(["SET", `filler:${written}`, value]).then(
              () => false,
              (error: unknown) => {
                if (error instanceof Error && error.message.startsWith("OOM")) return true
                throw error
              }
            )
            if (refused) break
            written++
          }
        }
        // Clients coming and going free a few KB; keep it full whatever happens next.
        const info = String(await client.sendCommand(["INFO", "memory"]))
        const used = Number(/^used_memory:(\d+)/m.exec(info)?.[1])
        await client.sendCommand(["CONFIG", "SET", "maxmemory", String(Math.floor(used * 0.9))])
      } finally {
        client.destroy()
      }
      return written
    })

    yield* Effect.addFinalizer(() => kill)
    yield* start
    return {
      port,
      url,
      socketPath: options.unixSocket === true ? Path.join(dir, "redis.sock") : undefined,
      dir,
      kill,
      start,
      restart: Effect.zipRight(kill, start),
      save: Effect.asVoid(send(["SAVE"])),
      wipe: Effect.sync(() => Fs.rmSync(Path.join(dir, "dump.rdb"), { force: true })),
      send,
      fill
    }
  })
