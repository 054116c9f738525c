/**
 * Errors that say where it failed (issue 13.1), over real sockets: the real undici client
 * (`NodeTink`) against a refused port on 127.0.0.1 and a host name that cannot resolve, and the
 * Redis store against a closed port and a link that is cut. Each names the host and port; a
 * failed lookup or refused connection is "not sent"; no password reaches a log.
 */
import { assert, describe, it } from "@effect/vitest"
import { TinkError } from "@tink-effect/core"
import { NodeTink, RedisResponseStore } from "@tink-effect/platform-node"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import { Ids, Users } from "@tink-effect/users"
import { Cause, Clock, Context, Deferred, Effect, Exit, Layer, Logger, LogLevel, Redacted } from "effect"
import { createServer } from "node:net"
import * as Redis from "./utils/redis.js"
import * as TcpProxy from "./utils/tcpProxy.js"

/** A port that was free a moment ago and is closed now: connecting to it is refused. */
const closedPort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** The Node client (undici), with retries off so that only the transport is measured. */
const node = (baseUrl: string) =>
  NodeTink.layer({ config: { clientId: "app", clientSecret: Redacted.make("app-secret"), baseUrl, maxRetries: 0 } })

const createUser = (baseUrl: string) =>
  Effect.flip(Users.createUser({ market: "SE" })).pipe(Effect.provide(node(baseUrl)))

const networkError = (error: unknown): TinkError.TinkNetworkError => {
  assert.isTrue(TinkError.isTinkError(error) && error._tag === "TinkNetworkError", String(error))
  return error as TinkError.TinkNetworkError
}

describe("Tink unreachable, through undici", () => {
  it.live("a refused port: the host and port tried, the step, not sent, and an Error as the cause", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const error = networkError(yield* createUser(`http://127.0.0.1:${port}`))
      assert.isFalse(error.mayHaveReachedTink)
      assert.deepStrictEqual([error.host, error.port], ["127.0.0.1", port])
      assert.strictEqual(
        error.message,
        `Tink unreachable at 127.0.0.1:${port}: connection refused (ECONNREFUSED): check TINK_BASE_URL and that ` +
          "the server is up; while getting the app token (user:create) for createUser; POST /api/v1/oauth/token, " +
          "request not sent"
      )
      assert.instanceOf(error.cause, Error)
      assert.deepStrictEqual(
        [(error.cause as TinkError.TransportCause).code, (error.cause as TinkError.TransportCause).syscall],
        ["ECONNREFUSED", "connect"]
      )
      const pretty = Cause.pretty(Cause.fail(error), { renderErrorCause: true })
      assert.include(pretty, `[cause]: TransportCause: Transport error: connect ECONNREFUSED 127.0.0.1:${port}`)
      assert.notInclude(pretty, "app-secret")
    }))

  it.live("a host name that cannot resolve (.invalid): named with the port, not sent, and it fails fast", () =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const error = networkError(yield* createUser("https://tink.invalid"))
      const took = (yield* Clock.currentTimeMillis) - started
      assert.isFalse(error.mayHaveReachedTink, "a name that does not resolve sends nothing")
      assert.deepStrictEqual([error.host, error.port], ["tink.invalid", 443])
      assert.strictEqual((error.cause as TinkError.TransportCause).code, "ENOTFOUND")
      assert.include(error.message, "Tink unreachable at tink.invalid:443: host name not found (ENOTFOUND)")
      assert.include(error.message, "request not sent")
      // RFC 6761: resolvers answer .invalid at once, so no network is needed and nothing waits.
      assert.isBelow(took, 5000, `took ${took} ms`)
    }))
})

describe("a rejected app credential says so, names the variables and the step, on every app-token path", () => {
  const hint = "app credentials rejected by Tink (invalid_client): check TINK_CLIENT_ID and TINK_CLIENT_SECRET"
  const paths = [
    ["createUser", () => Users.createUser({ market: "SE" }), "getting the app token (user:create) for createUser"],
    [
      "createAuthorization",
      () => Users.createAuthorization({ userId: Ids.UserId.make("user-1"), scope: "credentials:read" }),
      "getting the app token (authorization:grant) for createAuthorization"
    ],
    [
      "deleteUser",
      () => Users.deleteUser(Ids.UserId.make("user-1")),
      "getting the app token (authorization:grant) for createAuthorization, in granting user:delete for deleteUser"
    ],
    [
      "getUserAccessToken",
      () => Users.getUserAccessToken(Redacted.make("some-code")),
      "authenticating the app for getUserAccessToken"
    ]
  ] as const

  it.scopedLive.each(paths)("%s", ([_name, run, step]) =>
    Effect.gen(function*() {
      const server = Context.get(yield* Layer.build(SandboxServer.layer()), SandboxServer.SandboxServer)
      const error = yield* Effect.flip(run()).pipe(
        Effect.provide(NodeTink.layer({
          config: { clientId: "sandbox-client", clientSecret: Redacted.make("a-wrong-secret"), baseUrl: server.url }
        }))
      )
      if (error._tag !== "TinkAuthenticationError") return assert.fail(error.message)
      assert.strictEqual(error.reason, "app-credentials-rejected")
      assert.strictEqual(error.hint, hint)
      assert.strictEqual(error.step, step)
      assert.include(error.message, `Tink authentication failed: ${hint}`)
      assert.notInclude(error.message, "a-wrong-secret")
    }))
})

/** Every log line, and a Deferred done by the first line that includes `needle`. */
const capture = (needle: string) =>
  Effect.map(Deferred.make<string>(), (seen) => {
    const lines: Array<string> = []
    const logger = Logger.make((options) => {
      const line = Logger.logfmtLogger.log(options)
      lines.push(line)
      if (line.includes(needle)) Deferred.unsafeDone(seen, Exit.succeed(line))
    })
    return { lines, seen, layer: Logger.replace(Logger.defaultLogger, logger) }
  })

const password = "hunter2-redis-password"

describe("Redis not reachable, logged with host:port and never the password", () => {
  it.scopedLive("at start: the address tried, the reason, no password", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const logs = yield* capture("not reachable")
      yield* RedisResponseStore.make({
        url: Redacted.make(`redis://default:${password}@127.0.0.1:${port}/0`),
        namespace: Redis.namespace()
      }).pipe(Effect.provide(logs.layer))
      const line = yield* Deferred.await(logs.seen)
      assert.include(line, `Redis at 127.0.0.1:${port} not reachable yet`)
      assert.include(line, `address=127.0.0.1:${port}`)
      assert.include(line, "reason=ECONNREFUSED")
      for (const logged of logs.lines) assert.notInclude(logged, password)
    }))

  it.scopedLive("a connection lost later: the address, no password", () =>
    Effect.gen(function*() {
      const proxy = yield* TcpProxy.make(Redis.redisTarget)
      const logs = yield* capture("lost")
      yield* RedisResponseStore.make({
        url: Redacted.make(`redis://default:${password}@127.0.0.1:${proxy.port}`),
        namespace: Redis.namespace()
      }).pipe(Effect.provide(logs.layer), Logger.withMinimumLogLevel(LogLevel.Debug))
      assert.isTrue(logs.lines.some((line) => line.includes(`connected to 127.0.0.1:${proxy.port}`)), "connected")
      yield* proxy.cut
      const line = yield* Deferred.await(logs.seen)
      assert.include(line, `connection to 127.0.0.1:${proxy.port} lost`)
      assert.include(line, `address=127.0.0.1:${proxy.port}`)
      yield* proxy.restore
      for (const logged of logs.lines) assert.notInclude(logged, password)
    }))
})
