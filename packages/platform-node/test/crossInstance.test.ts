import { HttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import { Ids, Users } from "@tink-effect/users"
import { Context, Deferred, Effect, Fiber, Layer, Redacted, Schedule } from "effect"
import * as Instance from "./utils/instance.js"
import * as Redis from "./utils/redis.js"
import * as TcpProxy from "./utils/tcpProxy.js"

const list = "/api/v1/credentials/list"

/**
 * One application instance: its own undici client, its own Redis connection and its own
 * in-process cache state, talking to the shared sandbox server and the shared Redis.
 */
const instance = (options: {
  readonly baseUrl: string
  readonly namespace: string
  readonly redisUrl?: string
  readonly transport?: (client: HttpClient.HttpClient) => HttpClient.HttpClient
}) =>
  Instance.build({
    baseUrl: options.baseUrl,
    redis: {
      url: options.redisUrl ?? Redis.redisUrl,
      namespace: options.namespace,
      timeout: "250 millis",
      retrySchedule: Schedule.spaced("20 millis")
    },
    transport: options.transport
  })

const setup = Effect.gen(function*() {
  const context = yield* Layer.build(SandboxServer.layer())
  const server = Context.get(context, SandboxServer.SandboxServer)
  const sandbox = Context.get(context, Sandbox.Sandbox)
  const userId = Ids.UserId.make((yield* sandbox.createUser({})).userId)
  const first = yield* sandbox.addCredential(userId)
  const second = yield* sandbox.addCredential(userId)
  const token = Redacted.make(yield* sandbox.issueUserToken(userId, ["credentials:read", "credentials:write"]))
  const asUser = Users.asUser({ userId, accessToken: token })
  const listed = (on: Instance.Instance) => asUser(Users.listCredentials()).pipe(Effect.provide(on))
  const remove = (on: Instance.Instance, id: string) =>
    asUser(Users.deleteCredential(Ids.CredentialId.make(id))).pipe(Effect.provide(on))
  const upstreamReads = sandbox.requestCount("GET", list)
  return { server, sandbox, userId, first, second, listed, remove, upstreamReads, namespace: Redis.namespace() }
})

const ids = (credentials: ReadonlyArray<{ readonly id: string }>) => credentials.map((c) => c.id).sort()

describe("two instances sharing one Redis, over real sockets", () => {
  it.live("a mutation through A, then a read through B, returns fresh data (C5)", () =>
    Effect.gen(function*() {
      const t = yield* setup
      const a = yield* instance({ baseUrl: t.server.url, namespace: t.namespace })
      const b = yield* instance({ baseUrl: t.server.url, namespace: t.namespace })
      assert.strictEqual((yield* t.listed(a)).length, 2)
      assert.strictEqual((yield* t.listed(b)).length, 2)
      assert.strictEqual(yield* t.upstreamReads, 1, "B was served from A's entry in Redis")
      yield* t.remove(a, t.second.id)
      assert.deepStrictEqual(ids(yield* t.listed(b)), [t.first.id])
      assert.strictEqual(yield* t.upstreamReads, 2)
    }).pipe(Effect.scoped))

  it.live("a read through B in flight during A's mutation leaves nothing stale behind (C6)", () =>
    Effect.gen(function*() {
      const t = yield* setup
      const arrived = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      let held = false
      // B gets Tink's answer, then is held before its cache sees it.
      const holdFirstList = (client: HttpClient.HttpClient) =>
        HttpClient.transformResponse(client, (response) =>
          Effect.tap(response, (r) => {
            if (held || !r.request.url.endsWith(list)) return Effect.void
            held = true
            return Effect.zipRight(Deferred.succeed(arrived, undefined), Deferred.await(gate))
          }))
      const a = yield* instance({ baseUrl: t.server.url, namespace: t.namespace })
      const b = yield* instance({ baseUrl: t.server.url, namespace: t.namespace, transport: holdFirstList })
      const slow = yield* Effect.fork(t.listed(b))
      yield* Deferred.await(arrived)
      yield* t.remove(a, t.second.id)
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(slow)).length, 2, "B's read saw Tink before the delete")
      assert.deepStrictEqual(ids(yield* t.listed(b)), [t.first.id])
      assert.deepStrictEqual(ids(yield* t.listed(a)), [t.first.id])
    }).pipe(Effect.scoped))

  it.live("Redis cut mid-test: reads and mutations succeed, nothing stale after it returns, the invalidation is delivered (C9)", () =>
    Effect.gen(function*() {
      const t = yield* setup
      const proxy = yield* TcpProxy.make({ host: "127.0.0.1", port: 6379 })
      const a = yield* instance({ baseUrl: t.server.url, namespace: t.namespace, redisUrl: proxy.url })
      const b = yield* instance({ baseUrl: t.server.url, namespace: t.namespace })
      yield* t.listed(a)
      yield* t.listed(b)
      assert.strictEqual(yield* t.upstreamReads, 1)

      yield* proxy.cut
      assert.strictEqual((yield* t.listed(a)).length, 2, "Redis down: served from Tink")
      yield* t.remove(a, t.second.id)
      assert.deepStrictEqual(ids(yield* t.listed(a)), [t.first.id], "A never serves what it invalidated")
      yield* proxy.restore
      // A keeps bypassing Redis for the user until its invalidation is delivered, then B sees it.
      yield* t.listed(b).pipe(
        Effect.map(ids),
        Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (seen) => seen.length === 1 }),
        Effect.timeout("5 seconds")
      )
      assert.deepStrictEqual(ids(yield* t.listed(a)), [t.first.id])
      const stats = yield* ResponseCache.stats.pipe(Effect.provide(a))
      assert.isAbove(stats.storeErrors, 0, "the outage was counted")
    }).pipe(Effect.scoped))

  it.live("the generation key deleted by hand never brings old entries back (C10)", () =>
    Effect.gen(function*() {
      const t = yield* setup
      const redis = yield* Redis.admin
      const a = yield* instance({ baseUrl: t.server.url, namespace: t.namespace })
      yield* t.listed(a)
      yield* t.listed(a)
      assert.strictEqual(yield* t.upstreamReads, 1)
      yield* redis.send(["DEL", `${t.namespace}:gen:{u:${t.userId}}`])
      yield* t.listed(a)
      assert.strictEqual(yield* t.upstreamReads, 2, "a new random generation: the old entry is unreachable")
    }).pipe(Effect.scoped))
})
