import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import { createClient } from "redis"

export const redisTarget = { host: "127.0.0.1", port: 6379 } as const
export const redisUrl = `redis://${redisTarget.host}:${redisTarget.port}`

/** A fresh namespace per test, so tests never see each other's keys. */
export const namespace = (): string => `tink-test-${randomUUID().slice(0, 8)}`

/** A plain connection to the test Redis, for setting up and inspecting state behind the store. */
export interface Admin {
  readonly send: (args: ReadonlyArray<string>) => Effect.Effect<unknown>
}

const connect = Effect.acquireRelease(
  Effect.tryPromise({
    try: () => createClient({ url: redisUrl, socket: { reconnectStrategy: false, connectTimeout: 2000 } }).connect(),
    catch: (cause) => cause instanceof Error ? cause.message : String(cause)
  }).pipe(
    // Fail, never skip: under CI (and locally) a missing Redis must show up as red tests.
    Effect.orDieWith((reason) =>
      new Error(
        `The Redis tests need a Redis on ${redisUrl} and it is not answering (${reason}). Start it with: ` +
          `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no`
      )
    )
  ),
  (client) => Effect.promise(() => client.close().catch(() => client.destroy()))
)

export const admin: Effect.Effect<Admin, never, Scope.Scope> = Effect.map(connect, (client) => ({
  send: (args) => Effect.promise(() => client.sendCommand([...args]))
}))

/**
 * Records every command clients (not Lua scripts) send that mentions `needle`, with MONITOR.
 * `take` waits until the monitor has caught up with everything that has already run (a marker
 * command sent after it shows up) and returns the commands seen since the last `take`, e.g.
 * `["evalsha", ...args]`.
 */
export interface Monitor {
  readonly take: Effect.Effect<ReadonlyArray<ReadonlyArray<string>>>
}

export const monitor = (needle: string): Effect.Effect<Monitor, never, Scope.Scope> =>
  Effect.gen(function*() {
    const watcher = yield* connect
    const control = yield* admin
    const seen: Array<string> = []
    yield* Effect.promise(() =>
      watcher.monitor((line: string) => {
        if (line.includes(needle) && !/^\S+ \[\d+ lua\]/.test(line)) seen.push(line)
      })
    )
    let markers = 0
    const parse = (line: string): ReadonlyArray<string> =>
      [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((match) => match[1]!).map((arg, i) =>
        i === 0 ? arg.toLowerCase() : arg
      )
    return {
      take: Effect.gen(function*() {
        const marker = `${needle}:marker:${++markers}`
        yield* control.send(["ECHO", marker])
        yield* Effect.sync(() => seen.some((line) => line.includes(marker))).pipe(
          Effect.repeat({ schedule: Schedule.spaced("2 millis"), until: (found) => found }),
          Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => new Error("MONITOR never showed the marker") }),
          Effect.orDie
        )
        const index = seen.findIndex((line) => line.includes(marker))
        const lines = seen.splice(0, index + 1).slice(0, index)
        return lines.filter((line) => !line.includes(`${needle}:marker:`)).map(parse)
      })
    }
  })

/** Deletes a test namespace's keys (SCAN + UNLINK on that prefix only; the shared Redis is never flushed). */
export const dropNamespace = (admin: Admin, namespace: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    let cursor = "0"
    do {
      const reply = (yield* admin.send(["SCAN", cursor, "MATCH", `${namespace}:*`, "COUNT", "1000"])) as [
        string,
        Array<string>
      ]
      cursor = reply[0]
      if (reply[1].length > 0) yield* admin.send(["UNLINK", ...reply[1]])
    } while (cursor !== "0")
  })
