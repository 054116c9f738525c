/**
 * Two processes share one cache through Redis: what one caches the other reads, and when one
 * mutates, the other reads fresh data at once, with no message between them other than Redis.
 *
 *   npx tsx --conditions=source examples/redis-two-processes.ts
 *
 * Needs a Redis: TINK_REDIS_URL, default redis://127.0.0.1:6379. This script serves the sandbox
 * over HTTP, seeds a user with two bank credentials, then starts two copies of itself as worker
 * processes A and B that both have TINK_REDIS_URL and take commands on stdin:
 *
 *   1. A lists the credentials: a miss, fetched from Tink and stored in Redis.
 *   2. B lists them: a hit, served from what A stored.
 *   3. B deletes a credential: the user's cache is invalidated in Redis.
 *   4. A lists again: a miss, and the fresh list from Tink has one credential.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { ResponseCache } from "@tink-effect/core"
import { NodeTink } from "@tink-effect/platform-node"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxClient from "@tink-effect/sandbox/SandboxClient"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import { Ids, Users } from "@tink-effect/users"
import { Config, Console, Duration, Effect, ManagedRuntime } from "effect"
import * as Redacted from "effect/Redacted"
import { type ChildProcess, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { createWriteStream } from "node:fs"
import { createInterface } from "node:readline"
import type { Readable } from "node:stream"
import { createClient } from "redis"

const redisUrl = process.env.TINK_REDIS_URL ?? "redis://127.0.0.1:6379"

// ---------------------------------------------------------------------------------------------
// A worker: an ordinary app instance. Its cache is Redis, its Tink the sandbox the parent serves.
// ---------------------------------------------------------------------------------------------

const worker = async () => {
  // NodeTink.fromEnv reads TINK_CLIENT_ID, TINK_CLIENT_SECRET, TINK_BASE_URL and TINK_REDIS_URL.
  // For the demo: a namespace of its own, keys that expire minutes after the run, and a generous
  // timeout so that a busy machine cannot turn the hit into a miss. In production keep the
  // defaults: a 20 ms timeout, since a slow Redis must not slow reads down.
  const demoRedis = { timeout: Duration.seconds(1), generationTtl: Duration.minutes(5) }
  const options = Config.all({ tink: NodeTink.fromEnv, namespace: Config.string("EXAMPLE_REDIS_NAMESPACE") }).pipe(
    Config.map(({ namespace, tink }) => ({ ...tink, redis: { ...tink.redis, ...demoRedis, namespace } }))
  )
  const runtime = ManagedRuntime.make(NodeTink.layerConfig(options))
  const session = Users.asUser({
    userId: Ids.UserId.make(process.env.EXAMPLE_USER_ID!),
    accessToken: Redacted.make(process.env.EXAMPLE_USER_TOKEN!)
  })
  // Runs one operation and reports what the cache did for it.
  const observed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.gen(function*() {
      const before = yield* ResponseCache.stats
      const result = yield* effect
      const after = yield* ResponseCache.stats
      const cache = after.invalidations > before.invalidations
        ? "invalidated"
        : after.hits > before.hits
        ? "hit"
        : after.misses > before.misses
        ? "miss"
        : "-"
      return { result, cache }
    })

  // Commands arrive on stdin, replies go out on file descriptor 3; stdout (logs) goes to the parent's stderr.
  const replies = createWriteStream("", { fd: 3 })
  for await (const line of createInterface({ input: process.stdin })) {
    const [command, argument] = line.split(" ")
    const answer = command === "list"
      ? await runtime.runPromise(
        observed(session(Users.listCredentials())).pipe(
          Effect.map(({ cache, result }) => ({ cache, credentials: result.length }))
        )
      )
      : await runtime.runPromise(
        observed(session(Users.deleteCredential(Ids.CredentialId.make(argument!)))).pipe(
          Effect.map(({ cache }) => ({ cache }))
        )
      )
    replies.write(`${JSON.stringify(answer)}\n`)
  }
  replies.end()
  await runtime.dispose()
}

// ---------------------------------------------------------------------------------------------
// The parent: the sandbox, the seed data, and the two workers driven step by step.
// ---------------------------------------------------------------------------------------------

interface Worker {
  readonly send: (command: string) => Effect.Effect<{ readonly cache: string; readonly credentials?: number }>
}

/** Starts this file again as a worker process; stopped (stdin closed, then killed) with the scope. */
const startWorker = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      spawn(process.execPath, [...process.execArgv, process.argv[1]!, "worker"], {
        env: { ...process.env, ...env },
        stdio: ["pipe", process.stderr, "inherit", "pipe"]
      })
    ),
    (child) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null) return resume(Effect.void)
        const timer = setTimeout(() => child.kill(), 5000)
        child.once("exit", () => {
          clearTimeout(timer)
          resume(Effect.void)
        })
        child.stdin!.end()
      })
  ).pipe(Effect.map((child): Worker => {
    const replies = createInterface({ input: child.stdio[3] as Readable })[Symbol.asyncIterator]()
    return {
      send: (command) =>
        Effect.promise(async () => {
          child.stdin!.write(`${command}\n`)
          const reply = await replies.next()
          if (reply.done === true) throw new Error(`worker ${child.pid} exited (code ${exitCode(child)})`)
          return JSON.parse(reply.value)
        })
    }
  }))

const exitCode = (child: ChildProcess) => child.exitCode ?? child.signalCode

/** Fails at once, with a clear message, when Redis does not answer: without it nothing is shared. */
const pingRedis = Effect.tryPromise({
  try: async () => {
    const client = createClient({ url: redisUrl, socket: { connectTimeout: 2000, reconnectStrategy: false } })
    client.on("error", () => {})
    await client.connect()
    try {
      await client.ping()
    } finally {
      client.destroy()
    }
  },
  catch: (cause) => new Error(`Redis at ${redisUrl.replace(/\/\/[^@]*@/, "//***@")} does not answer: ${cause}`)
})

const parent = Effect.gen(function*() {
  yield* pingRedis
  const server = yield* SandboxServer.SandboxServer
  const sandbox = yield* Sandbox.Sandbox
  // A user with two bank credentials and a token, seeded straight into the sandbox (no requests).
  const user = yield* SandboxClient.seedUser({
    credentials: [{ providerName: "se-demobank" }, { providerName: "se-otherbank" }],
    scopes: ["credentials:read", "credentials:write"]
  })
  const second = user.credentials[1]!

  const env = {
    TINK_CLIENT_ID: "sandbox-client",
    TINK_CLIENT_SECRET: "sandbox-secret",
    TINK_BASE_URL: server.url,
    TINK_REDIS_URL: redisUrl,
    EXAMPLE_REDIS_NAMESPACE: `tink-example-${randomUUID()}`,
    EXAMPLE_USER_ID: user.userId,
    EXAMPLE_USER_TOKEN: Redacted.value(user.accessToken)
  }
  const a = yield* startWorker(env)
  const b = yield* startWorker(env)
  yield* Console.log("two worker processes, A and B, sharing one Redis cache; the sandbox plays Tink")

  const step = (name: string, worker: Worker, command: string) =>
    Effect.gen(function*() {
      const reply = yield* worker.send(command)
      const listed = reply.credentials === undefined ? "" : `${reply.credentials} credential(s)`
      const fetched = yield* sandbox.requestCount("GET", "/api/v1/credentials/list")
      yield* Console.log(
        `${name.padEnd(22)} ${listed.padEnd(16)} cache ${reply.cache.padEnd(12)} lists fetched from Tink: ${fetched}`
      )
      return reply
    })

  yield* step("A lists credentials", a, "list")
  const shared = yield* step("B lists credentials", b, "list")
  yield* step("B deletes credential", b, `delete ${second.id}`)
  const fresh = yield* step("A lists credentials", a, "list")

  if (shared.cache !== "hit") return yield* Effect.fail(new Error("B did not see what A cached: is Redis shared?"))
  if (fresh.credentials !== 1) return yield* Effect.fail(new Error("A read stale data after B's delete"))
  yield* Console.log("B read what A cached, and A read fresh data right after B's delete")
})

if (process.argv[2] === "worker") {
  await worker()
} else {
  parent.pipe(Effect.scoped, Effect.provide(SandboxServer.layer()), NodeRuntime.runMain)
}
