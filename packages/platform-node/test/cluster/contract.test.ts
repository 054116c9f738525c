/**
 * The Redis store on a real local Redis Cluster (3 primaries, 3 replicas, started by the tests:
 * test/utils/cluster.ts): the cache's contract across instances, with every key of a scope in
 * one slot and every script declaring its keys. Never skipped: a cluster that does not start
 * fails these tests.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { ResponseCache } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import { Ids, Users } from "@tink-effect/users"
import {
  Config,
  ConfigProvider,
  Context,
  Duration,
  Effect,
  Either,
  Layer,
  Redacted,
  Ref,
  Schedule,
  Schema
} from "effect"
import * as RedisResponseStore from "../../src/RedisResponseStore.js"
import * as Cluster from "../utils/cluster.js"
import * as Instance from "../utils/instance.js"
import { namespace } from "../utils/redis.js"

const Versioned = Schema.Struct({ version: Schema.Number })
type Versioned = typeof Versioned.Type
const ttl = Duration.minutes(1)
const generationTtl = Duration.minutes(2)

const clusterCache = (seeds: ReadonlyArray<string>, ns: string, options: RedisResponseStore.Options = {}) =>
  Effect.gen(function*() {
    const store = yield* RedisResponseStore.make({
      cluster: { nodes: [seeds[0]!, ...seeds.slice(1)] },
      namespace: ns,
      timeout: "500 millis",
      generationTtl,
      retrySchedule: Schedule.spaced("20 millis"),
      ...options
    })
    return { store, cache: yield* ResponseCache.make(store) }
  })

const counter = Effect.map(Ref.make(0), (calls) => ({
  calls: Ref.get(calls),
  fetch: Effect.map(Ref.updateAndGet(calls, (n) => n + 1), (version): Versioned => ({ version }))
}))

const read = (cache: ResponseCache.Service, scope: string, fetch: Effect.Effect<Versioned>, key = "GET /api/v1/user") =>
  cache.lookup({ scope, key, ttl, schema: Versioned, fetch })

const shared = Cluster.shared()
afterAll(() => shared.close(), 30_000)

describe("the Redis store on Redis Cluster", () => {
  it.live("a scope's keys are all in one slot, on the primary serving it", () =>
    Effect.gen(function*() {
      const cluster = yield* shared.cluster
      const ns = namespace()
      const { cache } = yield* clusterCache(cluster.seeds, ns)
      const upstream = yield* counter
      for (const scope of ["u:kim", "u:lee", "t:0123abcd"]) {
        yield* read(cache, scope, upstream.fetch, "GET /a")
        yield* read(cache, scope, upstream.fetch, "GET /b")
        const generationKey = `${ns}:gen:{${scope}}`
        const slot = yield* cluster.slotOf(generationKey)
        const primary = (yield* cluster.shardOf(slot)).primary!
        const generation = String(yield* cluster.send(primary, ["GET", generationKey]))
        const entries = (yield* cluster.send(primary, ["KEYS", `${ns}:e:{${scope}}:${generation}:*`])) as Array<string>
        assert.lengthOf(entries, 2, `both entries of ${scope} are on the slot's primary`)
        for (const key of entries) assert.strictEqual(yield* cluster.slotOf(key), slot)
      }
      assert.strictEqual(yield* upstream.calls, 6)
    }).pipe(Effect.scoped), 45_000)

  it.live(
    "two instances: a read is shared, a mutation invalidates, the other instance never serves the old value",
    () =>
      Effect.gen(function*() {
        const cluster = yield* shared.cluster
        const ns = namespace()
        const a = yield* clusterCache(cluster.seeds, ns)
        const b = yield* clusterCache(cluster.seeds, ns)
        // Enough scopes to land on every primary.
        const scopes = Array.from({ length: 24 }, (_, i) => `u:user-${i}`)
        let version = 0
        const fetch = Effect.sync((): Versioned => ({ version }))
        for (const scope of scopes) {
          version = 1
          assert.strictEqual((yield* read(a.cache, scope, fetch)).version, 1)
          version = 99
          assert.strictEqual((yield* read(b.cache, scope, fetch)).version, 1, "B is served A's entry")
          version = 2
          yield* a.cache.invalidate(scope)
          assert.strictEqual((yield* read(b.cache, scope, fetch)).version, 2, "B never serves what A invalidated")
          version = 3
          assert.strictEqual((yield* read(a.cache, scope, fetch)).version, 2, "A is served B's fresh entry")
        }
        const primaries = new Set<number>()
        for (const scope of scopes) {
          primaries.add((yield* cluster.shardOf(yield* cluster.slotOf(`${ns}:gen:{${scope}}`))).primary!)
        }
        assert.strictEqual(primaries.size, 3, "the scopes were spread over the three primaries")
        assert.isAtLeast(yield* b.store.size, scopes.length, "size counts the entries of every primary")
        assert.strictEqual(
          (yield* ResponseCache.stats.pipe(Effect.provide(Context.make(ResponseCache.ResponseCache, b.cache))))
            .storeErrors,
          0
        )
      }).pipe(Effect.scoped),
    45_000
  )

  it.live(
    "the whole stack (NodeTink over the sandbox, real sockets): A deletes, B reads fresh data",
    () =>
      Effect.gen(function*() {
        const cluster = yield* shared.cluster
        const context = yield* Layer.build(SandboxServer.layer())
        const server = Context.get(context, SandboxServer.SandboxServer)
        const sandbox = Context.get(context, Sandbox.Sandbox)
        const ns = namespace()
        const instance = () =>
          Instance.build({
            baseUrl: server.url,
            redis: {
              cluster: { nodes: [cluster.seeds[0], ...cluster.seeds.slice(1)] },
              namespace: ns,
              timeout: "500 millis"
            }
          })
        const a = yield* instance()
        const b = yield* instance()
        const list = "/api/v1/credentials/list"
        for (let i = 0; i < 3; i++) {
          const userId = Ids.UserId.make((yield* sandbox.createUser({})).userId)
          const first = yield* sandbox.addCredential(userId)
          const second = yield* sandbox.addCredential(userId)
          const token = Redacted.make(yield* sandbox.issueUserToken(userId, ["credentials:read", "credentials:write"]))
          const asUser = Users.asUser({ userId, accessToken: token })
          const listed = (on: Instance.Instance) =>
            asUser(Users.listCredentials()).pipe(Effect.provide(on), Effect.map((c) => c.map((x) => x.id).sort()))
          const before = yield* sandbox.requestCount("GET", list)
          assert.deepStrictEqual(yield* listed(a), [first.id, second.id].sort())
          assert.deepStrictEqual(yield* listed(b), [first.id, second.id].sort())
          assert.strictEqual((yield* sandbox.requestCount("GET", list)) - before, 1, "B was served A's entry")
          yield* asUser(Users.deleteCredential(Ids.CredentialId.make(second.id))).pipe(Effect.provide(a))
          assert.deepStrictEqual(yield* listed(b), [first.id])
        }
      }).pipe(Effect.scoped),
    45_000
  )

  it.live("TINK_REDIS_CLUSTER_NODES configures the store through layerConfig", () =>
    Effect.gen(function*() {
      const cluster = yield* shared.cluster
      const ns = namespace()
      const upstream = yield* counter
      const provider = ConfigProvider.fromMap(
        new Map([["TINK_REDIS_CLUSTER_NODES", cluster.seeds.slice(0, 2).join(", ")], ["NS", ns]])
      )
      const live = RedisResponseStore.layerConfig({
        cluster: RedisResponseStore.redisCluster("TINK_REDIS_CLUSTER_NODES"),
        namespace: Config.string("NS")
      })
      const cache = Context.get(
        yield* Layer.build(live.pipe(Layer.provide(Layer.setConfigProvider(provider)))),
        ResponseCache.ResponseCache
      )
      yield* read(cache, "u:env", upstream.fetch)
      yield* read(cache, "u:env", upstream.fetch)
      assert.strictEqual(yield* upstream.calls, 1)
      const slot = yield* cluster.slotOf(`${ns}:gen:{u:env}`)
      const primary = (yield* cluster.shardOf(slot)).primary!
      assert.strictEqual(yield* cluster.send(primary, ["EXISTS", `${ns}:gen:{u:env}`]), 1)
    }).pipe(Effect.scoped), 45_000)

  it.live("a malformed node URL is a ConfigError naming the key, never quoting it; url and cluster together are refused", () =>
    Effect.gen(function*() {
      const bad = RedisResponseStore.redisCluster("NODES").pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["NODES", "redis://127.0.0.1:1,http://:s3cret@x"]])))
      )
      const error = yield* Effect.flip(bad)
      assert.include(String(error), "NODES")
      assert.include(String(error), "position 2")
      assert.notInclude(String(error), "s3cret")
      const both = yield* Effect.either(Effect.scoped(
        RedisResponseStore.make({ url: "redis://127.0.0.1:1", cluster: { nodes: ["redis://127.0.0.1:1"] } })
      ))
      assert.isTrue(Either.isLeft(both))
    }))
})
