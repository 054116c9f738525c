import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as Net from "node:net"

/**
 * A redis-server of this test's own, on a free port, that the test may kill and restart: the
 * shared Redis on 6379 must never be paused or killed. Every process started is SIGKILLed when
 * the scope closes.
 */
export interface RedisServer {
  readonly port: number
  readonly url: string
  /** SIGKILL: no shutdown, no save; clients see their connections reset. */
  readonly kill: Effect.Effect<void>
  /** Starts a fresh, empty server on the same port and waits until it accepts connections. */
  readonly start: Effect.Effect<void>
}

const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Resolves once a TCP connection to the port succeeds. */
const accepting = (port: number) =>
  Effect.async<void, Error>((resume) => {
    const socket = Net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.void)
    })
    socket.once("error", (error) => {
      socket.destroy()
      resume(Effect.fail(error))
    })
  }).pipe(
    Effect.retry(Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(500)))),
    Effect.orDieWith((error) => new Error(`redis-server did not start on port ${port}: ${error.message}`))
  )

export const make: Effect.Effect<RedisServer, never, Scope.Scope> = Effect.gen(function*() {
  const port = yield* freePort
  const running = new Set<ChildProcess>()

  const start = Effect.suspend(() => {
    const child = spawn("redis-server", [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "no",
      "--loglevel",
      "warning"
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
      accepting(port)
    )
  })

  const killAll = Effect.async<void>((resume) => {
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

  yield* Effect.addFinalizer(() => killAll)
  yield* start
  return { port, url: `redis://127.0.0.1:${port}`, kill: killAll, start }
})
