import { assert, describe, it } from "@effect/vitest"
import { ResponseCache } from "@tink-effect/core"
import {
  Chunk,
  Config,
  ConfigProvider,
  Deferred,
  Duration,
  Effect,
  Fiber,
  Layer,
  Logger,
  LogLevel,
  Redacted,
  Ref,
  Schedule,
  Schema
} from "effect"
import * as Scripts from "../src/internal/redisScripts.js"
import * as Settings from "../src/internal/redisSettings.js"
import * as RedisResponseStore from "../src/RedisResponseStore.js"
import { assertSafeConfigError, badRedisUrls, password } from "./utils/badRedisUrls.js"
import { type Admin, admin, monitor, namespace, redisTarget, redisUrl } from "./utils/redis.js"
import * as TcpProxy from "./utils/tcpProxy.js"

// Every test runs against the real Redis on 127.0.0.1:6379; `admin` fails the test (never skips
// it) when that Redis does not answer. Each test has its own random namespace.

/** Malformed unix:// URLs carrying the password (node-redis would decode or quote them). */
const badUnixUrls: ReadonlyArray<string> = [
  `unix://user:${password}@/`, // no socket path
  `unix://:${password}@/tmp/redis.sock?db=x`, // db not a number
  `unix://:${password}@/tmp/redis.sock?timeout=1`, // a query node-redis ignores
  `unix://:%zz${password}@/tmp/redis.sock`, // bad percent-encoding in the password
  `unix://:${password}@/tmp/%zz.sock`, // bad percent-encoding in the path
  `unix:${password}` // no //
]

const Versioned = Schema.Struct({ version: Schema.Number })
type Versioned = typeof Versioned.Type

const ttl = Duration.minutes(1)

/** Test stores keep their generation keys briefly, so nothing lingers in Redis after a run. */
const generationTtl = Duration.minutes(2)

/**
 * A store and a cache over it; tests that assert hits use a generous bound. Checks first that the
 * test Redis answers, so a missing Redis fails every test with a clear message.
 */
const redisCache = (options: RedisResponseStore.Options) =>
  Effect.gen(function*() {
    yield* Effect.scoped(admin)
    const store = yield* RedisResponseStore.make({ timeout: "250 millis", generationTtl, ...options })
    const cache = yield* ResponseCache.make(store)
    return { store, cache }
  })

/** An upstream that counts its calls and answers the call number. */
const upstream = Effect.map(Ref.make(0), (calls) => ({
  calls: Ref.get(calls),
  fetch: Effect.map(Ref.updateAndGet(calls, (n) => n + 1), (version): Versioned => ({ version }))
}))

const read = (
  cache: ResponseCache.Service,
  scope: string,
  fetch: Effect.Effect<Versioned>,
  key = "GET /api/v1/user"
) => cache.lookup({ scope, key, ttl, schema: Versioned, fetch })

const generationKey = (ns: string, scope: string) => `${ns}:gen:{${scope}}`

const generationOf = (redis: Admin, ns: string, scope: string) =>
  Effect.map(redis.send(["GET", generationKey(ns, scope)]), (reply) => reply as string | null)

/** Generations are `<epoch>:<integer>`; the integer part, for checking bumps. */
const counterOf = (generation: string | null) => BigInt(generation!.slice(generation!.indexOf(":") + 1))

/**
 * The one entry key of a scope's generation ending with `request` (the cache puts a partition and
 * the schema's fingerprint in front of the request key).
 */
const entryKeyOf = (redis: Admin, ns: string, scope: string, generation: string | null, request: string) =>
  Effect.map(
    redis.send(["KEYS", `${ns}:e:{${scope}}:${generation}:*`]),
    (keys) => {
      const found = (keys as ReadonlyArray<string>).filter((key) => key.endsWith(request))
      assert.lengthOf(found, 1)
      return found[0]!
    }
  )

/** Polls (every 10 ms, for at most 1.5 s) until `effect` gives a value satisfying `done`. */
const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>, done: (a: A) => boolean) =>
  effect.pipe(
    Effect.filterOrFail(done, () => "not yet" as const),
    Effect.retry({ schedule: Schedule.spaced("10 millis"), while: (error) => error === "not yet" }),
    Effect.timeoutFail({ duration: "1500 millis", onTimeout: () => new Error("condition not reached in time") })
  )

describe("Redis response store", () => {
  it.scopedLive("a malformed URL is a ConfigError naming the url option, never quoting it (plain or Redacted)", () =>
    Effect.gen(function*() {
      for (const url of badRedisUrls) {
        for (const given of [url, Redacted.make(url)]) {
          const error = yield* Effect.flip(RedisResponseStore.make({ url: given }))
          assertSafeConfigError(error, "url")
          const fromLayer = yield* Layer.build(RedisResponseStore.layer({ url: given })).pipe(Effect.flip)
          assertSafeConfigError(fromLayer, "url")
        }
      }
    }))

  it.scopedLive("serves a hit after a miss, in one Redis round trip", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const watch = yield* monitor(ns)
      const { cache } = yield* redisCache({ namespace: ns })
      const tink = yield* upstream

      const first = yield* read(cache, "u:alice", tink.fetch)
      const onMiss = yield* watch.take
      const second = yield* read(cache, "u:alice", tink.fetch)
      const onHit = yield* watch.take

      assert.deepStrictEqual(first, { version: 1 })
      assert.deepStrictEqual(second, { version: 1 })
      assert.strictEqual(yield* tink.calls, 1)
      // The miss is a read script and a write script (EVAL only when the script was not cached yet).
      assert.isTrue(onMiss.length >= 2 && onMiss.every(([name]) => name === "evalsha" || name === "eval"))
      assert.deepStrictEqual(onHit.map(([name]) => name), ["evalsha"])
      // On one Redis the read script declares the generation key only and derives the entry key
      // (one round trip whatever this process knew); only a cluster store declares both.
      assert.strictEqual(onHit[0]![2], "1")
      const stats = yield* cache.stats
      assert.strictEqual(stats.hits, 1)
      assert.strictEqual(stats.misses, 1)
      assert.strictEqual(stats.storeErrors, 0)
    }))

  it.scopedLive("stores the schema-encoded value and decodes it back", () =>
    Effect.gen(function*() {
      const Account = Schema.Struct({
        id: Schema.String,
        balance: Schema.NumberFromString,
        updated: Schema.Date,
        holderName: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("holder_name"))
      })
      const account: typeof Account.Type = {
        id: "acc-1",
        balance: 12.5,
        updated: new Date("2024-05-01T10:00:00.000Z"),
        holderName: "Ada"
      }
      const ns = namespace()
      const redis = yield* admin
      const a = yield* redisCache({ namespace: ns })
      const b = yield* redisCache({ namespace: ns })
      const calls = yield* Ref.make(0)
      const lookup = (cache: ResponseCache.Service) =>
        cache.lookup({
          scope: "u:ada",
          key: "GET /data/v2/accounts/acc-1",
          ttl,
          schema: Account,
          fetch: Effect.as(Ref.update(calls, (n) => n + 1), account)
        })

      assert.deepStrictEqual(yield* lookup(a.cache), account)
      const fromRedis = yield* lookup(b.cache)
      assert.deepStrictEqual(fromRedis, account)
      assert.instanceOf(fromRedis.updated, Date)
      assert.strictEqual(yield* Ref.get(calls), 1)

      const generation = yield* generationOf(redis, ns, "u:ada")
      const entryKey = yield* entryKeyOf(redis, ns, "u:ada", generation, "GET /data/v2/accounts/acc-1")
      assert.deepStrictEqual(JSON.parse((yield* redis.send(["GET", entryKey])) as string), {
        id: "acc-1",
        balance: "12.5",
        updated: "2024-05-01T10:00:00.000Z",
        holder_name: "Ada"
      })
      const entryTtl = (yield* redis.send(["PTTL", entryKey])) as number
      const generationPttl = (yield* redis.send(["PTTL", generationKey(ns, "u:ada")])) as number
      assert.isTrue(entryTtl > 0 && entryTtl <= Duration.toMillis(ttl))
      assert.isTrue(generationPttl > entryTtl)
    }))

  it.scopedLive("an entry that no longer decodes is a miss and a store error, then is replaced", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const redis = yield* admin
      const { cache } = yield* redisCache({ namespace: ns })
      const tink = yield* upstream
      yield* read(cache, "u:bob", tink.fetch)
      const generation = yield* generationOf(redis, ns, "u:bob")
      const entryKey = yield* entryKeyOf(redis, ns, "u:bob", generation, "GET /api/v1/user")
      yield* redis.send(["SET", entryKey, "{\"version\":\"x\"}", "PX", "60000"])

      assert.deepStrictEqual(yield* read(cache, "u:bob", tink.fetch), { version: 2 })
      assert.deepStrictEqual(yield* read(cache, "u:bob", tink.fetch), { version: 2 })
      assert.strictEqual(yield* tink.calls, 2)
      assert.strictEqual((yield* cache.stats).storeErrors, 1)
    }))

  it.scopedLive("an entry that does not decode is logged by operation and path, never by its content", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const redis = yield* admin
      const lines: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make((options) => {
          lines.push(Logger.logfmtLogger.log(options))
        })
      )
      const store = yield* RedisResponseStore.make({ namespace: ns, timeout: "250 millis", generationTtl })
      const { generation } = yield* store.read("u:kim", "k", Versioned)
      const entry = `${ns}:e:{u:kim}:${generation}:k`
      const readLogged = Effect.zipRight(
        store.read("u:kim", "k", Versioned),
        Effect.sync(() => lines.splice(0).join("\n"))
      ).pipe(Effect.provide(capture), Logger.withMinimumLogLevel(LogLevel.Debug))

      yield* redis.send(["SET", entry, JSON.stringify({ version: "cred-secret-42" }), "PX", "60000"])
      const shape = yield* readLogged
      assert.include(shape, "decode failed")
      assert.include(shape, "shape at .version", shape)
      assert.notInclude(shape, "cred-secret-42")

      yield* redis.send(["SET", entry, "cred-secret-43 is not JSON", "PX", "60000"])
      const json = yield* readLogged
      assert.include(json, "decode failed")
      assert.notInclude(json, "cred-secret-43")
    }))

  it.scopedLive("C5: an invalidation through one instance is seen by reads through another", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const a = yield* redisCache({ namespace: ns })
      const b = yield* redisCache({ namespace: ns })
      const tink = yield* upstream

      assert.deepStrictEqual(yield* read(a.cache, "u:carol", tink.fetch), { version: 1 })
      assert.deepStrictEqual(yield* read(b.cache, "u:carol", tink.fetch), { version: 1 })
      assert.strictEqual(yield* tink.calls, 1)
      assert.strictEqual((yield* b.cache.stats).hits, 1)

      yield* a.cache.invalidate("u:carol")
      assert.deepStrictEqual(yield* read(b.cache, "u:carol", tink.fetch), { version: 2 })
      assert.deepStrictEqual(yield* read(a.cache, "u:carol", tink.fetch), { version: 2 })
      assert.strictEqual(yield* tink.calls, 2)
    }))

  it.scopedLive("C6: a read in flight across an invalidation does not store its value", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const a = yield* redisCache({ namespace: ns })
      const b = yield* redisCache({ namespace: ns })
      const calls = yield* Ref.make(0)
      const started = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const fetch = Effect.gen(function*() {
        const version = yield* Ref.updateAndGet(calls, (n) => n + 1)
        if (version === 1) {
          yield* Deferred.succeed(started, undefined)
          yield* Deferred.await(gate)
        }
        return { version }
      })

      const held = yield* Effect.fork(read(b.cache, "u:dave", fetch))
      yield* Deferred.await(started)
      yield* a.cache.invalidate("u:dave")
      yield* Deferred.succeed(gate, undefined)
      assert.deepStrictEqual(yield* Fiber.join(held), { version: 1 })

      assert.deepStrictEqual(yield* read(a.cache, "u:dave", fetch), { version: 2 })
      assert.deepStrictEqual(yield* read(b.cache, "u:dave", fetch), { version: 2 })
      assert.strictEqual(yield* Ref.get(calls), 2)
    }))

  it.scopedLive("C10: a lost generation key never revives old entries", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const redis = yield* admin
      const { cache } = yield* redisCache({ namespace: ns })
      const tink = yield* upstream
      yield* read(cache, "u:erin", tink.fetch)
      const before = yield* generationOf(redis, ns, "u:erin")
      const oldEntry = yield* entryKeyOf(redis, ns, "u:erin", before, "GET /api/v1/user")

      yield* redis.send(["DEL", generationKey(ns, "u:erin")])
      assert.deepStrictEqual(yield* read(cache, "u:erin", tink.fetch), { version: 2 })
      const after = yield* generationOf(redis, ns, "u:erin")
      assert.notStrictEqual(after, null)
      assert.notStrictEqual(after, before)
      assert.strictEqual(yield* redis.send(["EXISTS", oldEntry]), 1)
      assert.deepStrictEqual(yield* read(cache, "u:erin", tink.fetch), { version: 2 })
      assert.strictEqual(yield* tink.calls, 2)
    }))

  it.scopedLive("C11: an invalidation is one command whatever the number of entries", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const redis = yield* admin
      const watch = yield* monitor(ns)
      const { cache } = yield* redisCache({ namespace: ns })
      const tink = yield* upstream

      const fill = (scope: string, entries: number) =>
        Effect.gen(function*() {
          yield* read(cache, scope, tink.fetch)
          const generation = yield* generationOf(redis, ns, scope)
          yield* Effect.forEach(
            Array.from({ length: entries }, (_, i) => i),
            (i) =>
              redis.send(["SET", `${ns}:e:{${scope}}:${generation}:GET /x/${i}`, "{\"version\":0}", "PX", "60000"]),
            { concurrency: 100, discard: true }
          )
        })
      const invalidationCommands = (scope: string) =>
        Effect.gen(function*() {
          yield* watch.take
          yield* cache.invalidate(scope)
          return yield* watch.take
        })

      yield* fill("u:small", 10)
      yield* fill("u:other", 200)
      const small = yield* invalidationCommands("u:small")
      yield* fill("u:large", 1000)
      const large = yield* invalidationCommands("u:large")

      for (const [commands, scope] of [[small, "u:small"], [large, "u:large"]] as const) {
        assert.strictEqual(commands.length, 1)
        const [name, , keyCount, key] = commands[0]!
        assert.include(["evalsha", "eval"], name)
        assert.strictEqual(keyCount, "1")
        assert.strictEqual(key, generationKey(ns, scope))
      }
      assert.deepStrictEqual(yield* read(cache, "u:large", tink.fetch, "GET /x/1"), { version: yield* tink.calls })
    }))

  it.scopedLive("C9: Redis cut off: reads come from upstream, invalidations go pending until delivered", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const redis = yield* admin
      const proxy = yield* TcpProxy.make(redisTarget)
      const releaseRetries = yield* Deferred.make<void>()
      const { cache } = yield* redisCache({
        url: proxy.url,
        namespace: ns,
        timeout: "100 millis",
        // Redelivery waits for the test's go-ahead, so "still pending" can be observed.
        retrySchedule: Schedule.spaced("10 millis").pipe(Schedule.tapInput(() => Deferred.await(releaseRetries)))
      })
      const alice = yield* upstream
      const other = yield* upstream

      assert.deepStrictEqual(yield* read(cache, "u:alice", alice.fetch), { version: 1 })
      assert.deepStrictEqual(yield* read(cache, "u:other", other.fetch), { version: 1 })
      const generation = yield* generationOf(redis, ns, "u:alice")

      yield* proxy.cut
      // A read while cut completes, from upstream (the assertion is that it completes at all).
      assert.deepStrictEqual(yield* read(cache, "u:alice", alice.fetch), { version: 2 })
      yield* cache.invalidate("u:alice")
      assert.deepStrictEqual(yield* generationOf(redis, ns, "u:alice"), generation)

      yield* proxy.restore
      // Wait until the store talks to Redis again: the other scope's entry is served from it.
      const hits = (yield* cache.stats).hits
      yield* eventually(Effect.zipRight(read(cache, "u:other", other.fetch), cache.stats), (stats) => stats.hits > hits)
      // The invalidation is still pending: u:alice bypasses Redis, nothing is stored or served from it.
      assert.deepStrictEqual(yield* read(cache, "u:alice", alice.fetch), { version: 3 })
      assert.deepStrictEqual(yield* read(cache, "u:alice", alice.fetch), { version: 4 })
      assert.deepStrictEqual(yield* generationOf(redis, ns, "u:alice"), generation)

      yield* Deferred.succeed(releaseRetries, undefined)
      yield* eventually(generationOf(redis, ns, "u:alice"), (current) => current !== generation)
      // Once delivered, reads use Redis again: a miss stores the fresh value, the next read hits it.
      const [x, y] = yield* eventually(
        Effect.zip(read(cache, "u:alice", alice.fetch), read(cache, "u:alice", alice.fetch)),
        ([x, y]) => x.version === y.version
      )
      assert.deepStrictEqual(x, y)
      assert.strictEqual(y.version, yield* alice.calls)
      assert.isTrue(y.version >= 5)
      assert.isTrue((yield* cache.stats).storeErrors >= 2)
    }))

  it.scopedLive("C9: an invalidation asked for while a redelivery is in flight is delivered after it", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const redis = yield* admin
      const proxy = yield* TcpProxy.make(redisTarget)
      const releaseRetries = yield* Deferred.make<void>()
      const { cache } = yield* redisCache({
        url: proxy.url,
        namespace: ns,
        timeout: "1 second",
        retrySchedule: Schedule.spaced("10 millis").pipe(Schedule.tapInput(() => Deferred.await(releaseRetries)))
      })
      const tink = yield* upstream
      const other = yield* upstream
      yield* read(cache, "u:judy", tink.fetch)
      yield* read(cache, "u:other", other.fetch)
      const generation = counterOf(yield* generationOf(redis, ns, "u:judy"))

      yield* proxy.cut
      yield* cache.invalidate("u:judy")
      yield* proxy.restore
      const hits = (yield* cache.stats).hits
      yield* eventually(Effect.zipRight(read(cache, "u:other", other.fetch), cache.stats), (stats) => stats.hits > hits)

      // The redelivery's bump is held on the way to Redis while a second invalidation comes in.
      yield* proxy.pause
      yield* Deferred.succeed(releaseRetries, undefined)
      yield* eventually(proxy.held, (held) => held > 0)
      yield* cache.invalidate("u:judy")
      yield* proxy.restore

      // Two bumps reach Redis: the held one, then one for the invalidation that came after it.
      const [x, y] = yield* eventually(
        Effect.zip(read(cache, "u:judy", tink.fetch), read(cache, "u:judy", tink.fetch)),
        ([x, y]) => x.version === y.version
      )
      assert.deepStrictEqual(x, y)
      assert.strictEqual(counterOf(yield* generationOf(redis, ns, "u:judy")), generation + 2n)
    }))

  it.scopedLive("C9: Redis not answering: a read is a miss within the bound, not an error", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const proxy = yield* TcpProxy.make(redisTarget)
      const { cache } = yield* redisCache({ url: proxy.url, namespace: ns, timeout: "100 millis" })
      const tink = yield* upstream
      assert.deepStrictEqual(yield* read(cache, "u:frank", tink.fetch), { version: 1 })
      assert.deepStrictEqual(yield* read(cache, "u:frank", tink.fetch), { version: 1 })

      yield* proxy.pause
      assert.deepStrictEqual(yield* read(cache, "u:frank", tink.fetch), { version: 2 })
      // The bound holds even for a caller that cannot be interrupted.
      assert.deepStrictEqual(yield* Effect.uninterruptible(read(cache, "u:frank", tink.fetch)), { version: 3 })
      assert.strictEqual((yield* cache.stats).storeErrors, 2)

      // The late reply to the abandoned read is matched to it, not to the next command: the next
      // read gets its own reply, the entry stored before the pause.
      yield* proxy.restore
      assert.deepStrictEqual(yield* read(cache, "u:frank", tink.fetch), { version: 1 })
      assert.strictEqual(yield* tink.calls, 3)
    }))

  it.scopedLive("Redis unreachable at start: the store builds, serves misses, and recovers", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const proxy = yield* TcpProxy.make(redisTarget)
      yield* proxy.cut
      const { cache } = yield* redisCache({ url: proxy.url, namespace: ns, timeout: "100 millis" })
      const tink = yield* upstream
      assert.deepStrictEqual(yield* read(cache, "u:gina", tink.fetch), { version: 1 })
      yield* cache.invalidate("u:gina")
      assert.isTrue((yield* cache.stats).storeErrors >= 2)

      yield* proxy.restore
      yield* eventually(Effect.zipRight(read(cache, "u:gina", tink.fetch), cache.stats), (stats) => stats.hits > 0)
    }))

  it.scopedLive("redisUrl: a malformed URL fails naming the configuration key, never quoting it", () =>
    Effect.gen(function*() {
      for (const url of [...badRedisUrls, ...badUnixUrls]) {
        const layer = RedisResponseStore.layerConfig({ url: RedisResponseStore.redisUrl("MY_REDIS_URL") }).pipe(
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["MY_REDIS_URL", url]]))))
        )
        assertSafeConfigError(yield* Effect.flip(Layer.build(layer)), "MY_REDIS_URL")
      }
    }))

  it.scopedLive("unix:// URLs are checked like the others: a malformed one is a ConfigError without the secret", () =>
    Effect.gen(function*() {
      for (const url of badUnixUrls) {
        assertSafeConfigError(yield* Effect.flip(RedisResponseStore.make({ url })), "url")
      }
    }))

  it.scopedLive("layerConfig reads each option from its own Config; stats count the namespace's entries", () =>
    Effect.gen(function*() {
      yield* admin
      const ns = namespace()
      const tink = yield* upstream
      const layer = RedisResponseStore.layerConfig({
        url: Config.string("REDIS_URL"),
        namespace: Config.string("NAMESPACE"),
        timeout: Config.duration("TIMEOUT"),
        generationTtl: Config.succeed(generationTtl)
      }).pipe(
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(
          new Map([["REDIS_URL", redisUrl], ["NAMESPACE", ns], ["TIMEOUT", "250 millis"]])
        )))
      )
      const stats = yield* Effect.gen(function*() {
        const cache = yield* ResponseCache.ResponseCache
        yield* read(cache, "u:hal", tink.fetch, "GET /a")
        yield* read(cache, "u:hal", tink.fetch, "GET /b")
        yield* read(cache, "u:ivy", tink.fetch, "GET /a")
        yield* read(cache, "u:ivy", tink.fetch, "GET /a")
        return yield* ResponseCache.stats
      }).pipe(Effect.provide(layer))
      assert.strictEqual(stats.size, 3)
      assert.strictEqual(stats.hits, 1)
      assert.strictEqual(stats.misses, 3)
    }))

  it.scopedLive("the read script with every key declared (as on Redis Cluster): the entry under the expected generation, else 'again'", () =>
    Effect.gen(function*() {
      const ns = namespace()
      const redis = yield* admin
      const { cache } = yield* redisCache({ namespace: ns })
      const tink = yield* upstream
      yield* read(cache, "u:dora", tink.fetch)
      const generation = (yield* generationOf(redis, ns, "u:dora")) as string
      const entry = yield* entryKeyOf(redis, ns, "u:dora", generation, "GET /api/v1/user")
      const prefix = `${ns}:e:{u:dora}:`
      const requestKey = entry.slice(`${prefix}${generation}:`.length)
      const client = { sendCommand: (args: ReadonlyArray<string>) => Effect.runPromise(redis.send(args)) }
      const run = (expected: string) =>
        Effect.promise(() =>
          Scripts.run(
            client,
            Scripts.read,
            [generationKey(ns, "u:dora"), `${prefix}${expected}:${requestKey}`],
            [prefix, requestKey, "123", "60000", expected]
          )
        )
      assert.deepStrictEqual(yield* run(generation), [generation, yield* redis.send(["GET", entry])])
      assert.deepStrictEqual(yield* run("-"), [generation, null, Scripts.again], "another generation: run again")
      assert.strictEqual(yield* generationOf(redis, ns, "u:dora"), generation, "nothing was written")
    }))
})

describe("the default redelivery schedule", () => {
  const delays = (options: Settings.Options) =>
    Effect.flatMap(Settings.resolve(options), (settings) =>
      Effect.map(
        Schedule.run(Schedule.delays(settings.retrySchedule), 0, Array.from({ length: 12 }, () => undefined)),
        (chunk) => Chunk.toReadonlyArray(chunk).map(Duration.toMillis)
      ))

  it.effect("one Redis: exponential from 50 ms up to 5 s; a cluster: capped at 250 ms (the window of a failover)", () =>
    Effect.gen(function*() {
      const single = yield* delays({ url: "redis://127.0.0.1:6379" })
      assert.strictEqual(single[0], 50)
      assert.strictEqual(Math.max(...single), 5_000)
      const cluster = yield* delays({ cluster: { nodes: ["redis://127.0.0.1:7000"] } })
      assert.strictEqual(cluster[0], 50)
      assert.strictEqual(Math.max(...cluster), 250)
      const custom = yield* delays({
        cluster: { nodes: ["redis://127.0.0.1:7000"] },
        retrySchedule: Schedule.spaced("1 second")
      })
      assert.deepStrictEqual(new Set(custom), new Set([1_000]))
    }))
})
