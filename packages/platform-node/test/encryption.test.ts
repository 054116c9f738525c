/**
 * Issue 16: values in Redis are sealed (AES-256-GCM) and bound to their key. Over the real Redis
 * on 127.0.0.1:6379, each test in its own namespace: a value moved to another user's key, altered,
 * truncated, sealed under a rotated-out key or stored in clear is a miss (counted, logged once per
 * burst, replaced by the fresh value), and no key material reaches logs, errors or Redis.
 */
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache } from "@tink-effect/core"
import * as SandboxClient from "@tink-effect/sandbox/SandboxClient"
import { Schemas } from "@tink-effect/users"
import { Users } from "@tink-effect/users"
import {
  ConfigProvider,
  Duration,
  Effect,
  HashMap,
  Layer,
  Logger,
  LogLevel,
  Metric,
  Redacted,
  Ref,
  Schema
} from "effect"
import { randomBytes } from "node:crypto"
import * as Util from "node:util"
import * as NodeTink from "../src/NodeTink.js"
import * as RedisResponseStore from "../src/RedisResponseStore.js"
import * as Capture from "./reliability/utils/capture.js"
import { type Admin, admin, monitor, namespace, redisUrl } from "./utils/redis.js"

/** A cached value with personal data in it, as a credential's `fields` hold. */
const Person = Schema.Struct({ userId: Schema.String, username: Schema.String, version: Schema.Number })
type Person = typeof Person.Type

const ttl = Duration.minutes(1)
const generationTtl = Duration.minutes(2)
const request = "GET /api/v1/credentials/list"

const newKey = () => randomBytes(32)
const b64 = (key: Uint8Array) => Buffer.from(key).toString("base64")
const keyOf = (key: Uint8Array) => Redacted.make(b64(key))

/** Every rendering of a key that must never show up anywhere. */
const renderings = (key: Uint8Array) => [
  b64(key),
  Buffer.from(key).toString("hex"),
  Buffer.from(key).toString("base64url"),
  Buffer.from(key).toString("latin1").slice(0, 12)
]

interface Logged {
  readonly level: string
  readonly text: string
}

/** Every log line, with its annotations, as text. */
const captureLogs = Effect.map(Ref.make<ReadonlyArray<Logged>>([]), (ref) => ({
  lines: Ref.get(ref),
  logger: Logger.make<unknown, void>(({ annotations, logLevel, message }) => {
    const text = `${Util.inspect(message, { depth: 10 })} ${Util.inspect(HashMap.toEntries(annotations))}`
    Effect.runSync(Ref.update(ref, (lines) => [...lines, { level: logLevel.label, text }]))
  })
}))

const refused = (reason: string) =>
  Effect.map(Metric.value(RedisResponseStore.valuesRefused.pipe(Metric.tagged("reason", reason))), (s) => s.count)

/** A counting upstream per user: answers the user's own data and how many times it was asked. */
const upstream = Effect.map(Ref.make(0), (calls) => ({
  calls: Ref.get(calls),
  fetch: (userId: string) =>
    Effect.map(
      Ref.updateAndGet(calls, (n) => n + 1),
      (version): Person => ({ userId, username: `19841004${userId.length}701-${userId}`, version })
    )
}))

type Upstream = Effect.Effect.Success<typeof upstream>

/** A fresh store instance (an empty near cache when it has one) and a cache over it. */
const instance = (ns: string, options: RedisResponseStore.Options = {}) =>
  Effect.gen(function*() {
    const store = yield* RedisResponseStore.make({
      url: redisUrl,
      namespace: ns,
      timeout: "1 second",
      generationTtl,
      ...options
    })
    return yield* ResponseCache.make(store)
  })

const lookup = (cache: ResponseCache.Service, tink: Upstream, userId: string) =>
  cache.lookup({ scope: `u:${userId}`, key: request, ttl, schema: Person, fetch: tink.fetch(userId) })

/** The one entry key of a user's current generation. */
const entryKeyOf = (redis: Admin, ns: string, userId: string) =>
  Effect.gen(function*() {
    const generation = (yield* redis.send(["GET", `${ns}:gen:{u:${userId}}`])) as string
    const keys = (yield* redis.send(["KEYS", `${ns}:e:{u:${userId}}:${generation}:*`])) as ReadonlyArray<string>
    assert.lengthOf(keys, 1)
    return keys[0]!
  })

const storedAt = (redis: Admin, key: string) => Effect.map(redis.send(["GET", key]), (value) => value as string)
const replace = (redis: Admin, key: string, value: string) => redis.send(["SET", key, value, "KEEPTTL"])

/** Deletes the namespace's keys at the end of a test. */
const cleanup = (redis: Admin, ns: string) =>
  Effect.addFinalizer(() =>
    Effect.flatMap(redis.send(["KEYS", `${ns}:*`]), (keys) =>
      (keys as ReadonlyArray<string>).length === 0
        ? Effect.void
        : Effect.asVoid(redis.send(["DEL", ...(keys as ReadonlyArray<string>)])))
  )

const setup = Effect.gen(function*() {
  const redis = yield* admin
  const ns = namespace()
  yield* cleanup(redis, ns)
  return { redis, ns, tink: yield* upstream }
})

describe.each([
  { name: "without near cache", near: {} },
  { name: "with near cache", near: { nearCache: { capacity: 100 } } }
])("Encrypted Redis values ($name)", ({ near }) => {
  it.scopedLive("values are sealed in Redis: no personal data and no key material, in the value or on the wire", () =>
    Effect.gen(function*() {
      const { ns, redis, tink } = yield* setup
      const key = newKey()
      const wire = yield* monitor(ns)
      const cache = yield* instance(ns, { ...near, encryption: { keys: [keyOf(key)] } })
      const first = yield* lookup(cache, tink, "anna")
      assert.strictEqual((yield* lookup(cache, tink, "anna")).version, first.version)
      const stored = yield* storedAt(redis, yield* entryKeyOf(redis, ns, "anna"))
      assert.match(stored, /^tk1\.[0-9a-f]{8}\.[A-Za-z0-9+/]+=*$/)
      const commands = (yield* wire.take).map((command) => command.join(" "))
      assert.isAbove(commands.length, 0)
      for (const text of [stored, ...commands]) {
        assert.notInclude(text, first.username)
        assert.notInclude(text, "anna\\\"")
        for (const rendering of renderings(key)) assert.notInclude(text, rendering)
      }
      // Two writes of the same value differ: a fresh nonce each time.
      const other = yield* instance(ns, { encryption: { keys: [keyOf(key)] } })
      yield* other.invalidate("u:anna")
      yield* lookup(other, tink, "anna")
      const again = yield* storedAt(redis, yield* entryKeyOf(redis, ns, "anna"))
      assert.notStrictEqual(again.slice(14, 30), stored.slice(14, 30))
    }))

  it.scopedLive("a value copied from user A's key to user B's key is a miss for B, counted, then B's own value", () =>
    Effect.gen(function*() {
      const { ns, redis, tink } = yield* setup
      const keys = { keys: [keyOf(newKey())] } as const
      const writer = yield* instance(ns, { ...near, encryption: keys })
      const anna = yield* lookup(writer, tink, "anna")
      const bob = yield* lookup(writer, tink, "bob")
      const annaKey = yield* entryKeyOf(redis, ns, "anna")
      const bobKey = yield* entryKeyOf(redis, ns, "bob")
      yield* replace(redis, bobKey, yield* storedAt(redis, annaKey))
      const before = yield* refused("forged")
      const calls = yield* tink.calls
      const reader = yield* instance(ns, { ...near, encryption: keys })
      const served = yield* lookup(reader, tink, "bob")
      assert.strictEqual(served.userId, "bob")
      assert.notStrictEqual(served.username, anna.username)
      assert.notStrictEqual(served.version, bob.version, "a miss: fetched again")
      assert.strictEqual(yield* tink.calls, calls + 1)
      assert.strictEqual((yield* refused("forged")) - before, 1)
      assert.strictEqual((yield* reader.stats).storeErrors, 1)
      // Replaced by B's fresh value: the next instance hits.
      const next = yield* instance(ns, { ...near, encryption: keys })
      assert.strictEqual((yield* lookup(next, tink, "bob")).version, served.version)
      assert.strictEqual(yield* tink.calls, calls + 1)
    }))

  it.scopedLive("a flipped byte, a truncated value and an altered header are misses, counted", () =>
    Effect.gen(function*() {
      const { ns, redis, tink } = yield* setup
      const keys = { keys: [keyOf(newKey())] } as const
      const writer = yield* instance(ns, { ...near, encryption: keys })
      const original = yield* lookup(writer, tink, "carl")
      const entry = yield* entryKeyOf(redis, ns, "carl")
      const stored = yield* storedAt(redis, entry)
      const body = Buffer.from(stored.slice(14), "base64")
      const flip = (at: number) => {
        const copy = Buffer.from(body)
        copy[at] = copy[at]! ^ 0x01
        return stored.slice(0, 14) + copy.toString("base64")
      }
      const altered = [
        flip(0), // nonce
        flip(14), // ciphertext
        flip(body.length - 1), // tag
        stored.slice(0, stored.length - 4), // truncated
        stored.slice(0, 14) + body.subarray(0, body.length - 1).toString("base64"), // one byte short
        stored.slice(0, 20), // header and a scrap
        "tk1.",
        stored.replace(/^tk1\.(.)/, (_, c: string) => `tk1.${c === "0" ? "1" : "0"}`) // another key id
      ]
      for (const value of altered) {
        yield* replace(redis, entry, value)
        const calls = yield* tink.calls
        const reader = yield* instance(ns, { ...near, encryption: keys })
        const served = yield* lookup(reader, tink, "carl")
        assert.strictEqual(yield* tink.calls, calls + 1, `a miss for ${value.length} chars`)
        assert.notStrictEqual(served.version, original.version)
        assert.strictEqual((yield* reader.stats).storeErrors, 1)
      }
    }))

  it.scopedLive("rotation: old and new keys read, the newest writes; a rotated-out key's value costs one miss", () =>
    Effect.gen(function*() {
      const { ns, redis, tink } = yield* setup
      const [oldKey, newKey_] = [newKey(), newKey()]
      const users = ["dora", "emil", "fred"]
      const before = yield* instance(ns, { ...near, encryption: { keys: [keyOf(oldKey)] } })
      for (const user of users) yield* lookup(before, tink, user)
      const fetched = yield* tink.calls
      // Rolling out the new key: both listed, newest first. Every old entry still hits.
      const during = yield* instance(ns, { ...near, encryption: { keys: [keyOf(newKey_), keyOf(oldKey)] } })
      for (const user of users) yield* lookup(during, tink, user)
      assert.strictEqual(yield* tink.calls, fetched, "no miss while both keys are listed")
      // A write during the rollout is sealed under the new key.
      yield* during.invalidate("u:dora")
      yield* lookup(during, tink, "dora")
      const doraHeader = (yield* storedAt(redis, yield* entryKeyOf(redis, ns, "dora"))).slice(0, 14)
      const emilHeader = (yield* storedAt(redis, yield* entryKeyOf(redis, ns, "emil"))).slice(0, 14)
      assert.notStrictEqual(doraHeader, emilHeader)
      // The old key dropped: entries still under it are one miss each, then hits; dora's is a hit.
      const unknown = yield* refused("unknownKey")
      const after = { ...near, encryption: { keys: [keyOf(newKey_)] } } as const
      const calls = yield* tink.calls
      const first = yield* instance(ns, after)
      for (const user of users) yield* lookup(first, tink, user)
      assert.strictEqual((yield* tink.calls) - calls, 2, "emil and fred: one miss each")
      assert.strictEqual((yield* refused("unknownKey")) - unknown, 2)
      const second = yield* instance(ns, after)
      for (const user of users) yield* lookup(second, tink, user)
      assert.strictEqual((yield* tink.calls) - calls, 2, "at most one miss per entry")
      // And an instance still on the old key alone cannot read the new values: misses, never wrong.
      const stale = yield* instance(ns, { ...near, encryption: { keys: [keyOf(oldKey)] } })
      const served = yield* lookup(stale, tink, "emil")
      assert.strictEqual(served.userId, "emil")
    }))

  it.scopedLive("a value stored in clear before encryption was turned on is a miss, counted, then sealed", () =>
    Effect.gen(function*() {
      const { ns, redis, tink } = yield* setup
      const clear = yield* instance(ns, near)
      yield* lookup(clear, tink, "gina")
      const entry = yield* entryKeyOf(redis, ns, "gina")
      assert.strictEqual(JSON.parse(yield* storedAt(redis, entry)).userId, "gina")
      const before = yield* refused("clear")
      const calls = yield* tink.calls
      const keys = { keys: [keyOf(newKey())] } as const
      yield* lookup(yield* instance(ns, { ...near, encryption: keys }), tink, "gina")
      assert.strictEqual(yield* tink.calls, calls + 1)
      assert.strictEqual((yield* refused("clear")) - before, 1)
      assert.match(yield* storedAt(redis, entry), /^tk1\./)
      yield* lookup(yield* instance(ns, { ...near, encryption: keys }), tink, "gina")
      assert.strictEqual(yield* tink.calls, calls + 1)
    }))
})

describe("Encrypted Redis values: logs and configuration", () => {
  it.scopedLive("refusals are logged once per burst, with no value and no key material; clear mode is logged at start", () =>
    Effect.gen(function*() {
      const { ns, redis, tink } = yield* setup
      const key = newKey()
      const logs = yield* captureLogs
      yield* Effect.gen(function*() {
        const clearStore = yield* instance(ns)
        for (const user of ["hana", "ivan", "jon"]) yield* lookup(clearStore, tink, user)
        const sealed = yield* instance(ns, { encryption: { keys: [keyOf(key)] } })
        for (const user of ["hana", "ivan", "jon"]) yield* lookup(sealed, tink, user)
      }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logs.logger)),
        Logger.withMinimumLogLevel(LogLevel.All)
      )
      const lines = yield* logs.lines
      const clearNotes = lines.filter((line) => line.text.includes("(no encryption key)"))
      assert.lengthOf(clearNotes, 1, "once, by the store without a key")
      const warnings = lines.filter((line) => line.text.includes("did not open"))
      assert.lengthOf(warnings, 1, "three refusals, one warning")
      assert.strictEqual(warnings[0]!.level, "WARN")
      assert.include(warnings[0]!.text, "clear")
      for (const line of lines) {
        for (const rendering of renderings(key)) assert.notInclude(line.text, rendering)
        assert.notInclude(line.text, "19841004")
        assert.notInclude(line.text, "hana")
      }
      // Nothing in Redis holds the key either.
      const keys = (yield* redis.send(["KEYS", `${ns}:*`])) as ReadonlyArray<string>
      for (const k of keys) {
        const value = (yield* redis.send(["GET", k])) as string
        for (const rendering of renderings(key)) assert.notInclude(`${k} ${value}`, rendering)
      }
    }))

  const badKeys: ReadonlyArray<Uint8Array | string> = [
    "",
    "not base64 at all!",
    b64(randomBytes(16)),
    b64(randomBytes(33)),
    b64(randomBytes(32)).slice(1),
    randomBytes(31),
    `${b64(randomBytes(32))}x`
  ]

  const assertNoQuote = (error: unknown, name: string, given: Uint8Array | string) => {
    assert.strictEqual((error as { _op?: string })._op, "InvalidData", String(error))
    const text = `${String(error)} ${Util.inspect(error, { depth: 20, showHidden: true })}`
    assert.include(String(error), name)
    const quoted = typeof given === "string" ? given.trim() : Buffer.from(given).toString("base64")
    if (quoted.length >= 8) assert.notInclude(text, quoted.slice(0, 8))
  }

  it.scopedLive("a malformed key is a ConfigError naming it without quoting it (option, cacheKeys, TINK_CACHE_KEY)", () =>
    Effect.gen(function*() {
      for (const bad of badKeys) {
        const good = keyOf(newKey())
        const error = yield* Effect.flip(
          RedisResponseStore.make({ url: redisUrl, encryption: { keys: [good, Redacted.make(bad)] } })
        )
        assertNoQuote(error, "encryption.keys.1", bad)
        if (typeof bad !== "string") continue
        for (const value of [bad, `${b64(newKey())},${bad}`]) {
          const provider = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["TINK_CACHE_KEY", value]])))
          const fromConfig = yield* Effect.flip(
            Effect.provide(RedisResponseStore.cacheKeys("TINK_CACHE_KEY"), provider)
          )
          assertNoQuote(fromConfig, "TINK_CACHE_KEY", bad)
          const env = new Map([
            ["TINK_CLIENT_ID", "id"],
            ["TINK_CLIENT_SECRET", "secret"],
            ["TINK_REDIS_URL", redisUrl],
            ["TINK_CACHE_KEY", value]
          ])
          const fromEnv = yield* Effect.flip(
            Effect.provide(NodeTink.fromEnv, Layer.setConfigProvider(ConfigProvider.fromMap(env)))
          )
          assertNoQuote(fromEnv, "TINK_CACHE_KEY", bad)
        }
      }
    }))

  it.scopedLive("TINK_CACHE_KEY turns encryption on, newest first", () =>
    Effect.gen(function*() {
      const [a, b] = [newKey(), newKey()]
      const env = new Map([
        ["TINK_CLIENT_ID", "id"],
        ["TINK_CLIENT_SECRET", "secret"],
        ["TINK_REDIS_URL", redisUrl],
        ["TINK_CACHE_KEY", `${b64(a)}, ${b64(b)}`]
      ])
      const options = yield* Effect.provide(NodeTink.fromEnv, Layer.setConfigProvider(ConfigProvider.fromMap(env)))
      const keys = options.redis?.encryption?.keys ?? []
      assert.deepStrictEqual(keys.map((key) => Redacted.value(key)), [b64(a), b64(b)])
      assert.notInclude(Util.inspect(options, { depth: 20 }), b64(a))
      const none = yield* Effect.provide(
        NodeTink.fromEnv,
        Layer.setConfigProvider(ConfigProvider.fromMap(new Map([...env].filter(([name]) => name !== "TINK_CACHE_KEY"))))
      )
      assert.isUndefined(none.redis?.encryption)
    }))

  it.scopedLive("omitCredentialFields: credentials' fields never reach Redis; read back, they are empty", () =>
    Effect.gen(function*() {
      const { ns, redis } = yield* setup
      const List = Schema.Struct({ credentials: Schema.Array(Schemas.Credential) })
      const personal = "198410045701"
      const credential = (id: string) =>
        Schema.decodeUnknownSync(Schemas.Credential)({
          id,
          providerName: "se-demobank-password",
          status: "UPDATED",
          userId: "kim",
          fields: { username: personal }
        })
      const Provider = Schema.Struct({
        name: Schema.String,
        fields: Schema.Array(Schema.Struct({ name: Schema.String }))
      })
      const provider = { name: "se-demobank-password", fields: [{ name: "username" }] }
      for (const omit of [false, true]) {
        const scope = `u:kim-${omit}`
        const writer = yield* instance(ns, { omitCredentialFields: omit })
        const fetchedList = yield* writer.lookup({
          scope,
          key: "GET /list",
          ttl,
          schema: List,
          fetch: Effect.succeed({ credentials: [credential("c1"), credential("c2")] })
        })
        assert.deepStrictEqual(fetchedList.credentials[0]!.fields, { username: personal }, "the fetch keeps them")
        yield* writer.lookup({
          scope,
          key: "GET /one",
          ttl,
          schema: Schemas.Credential,
          fetch: Effect.succeed(credential("c3"))
        })
        yield* writer.lookup({ scope, key: "GET /provider", ttl, schema: Provider, fetch: Effect.succeed(provider) })
        const generation = (yield* redis.send(["GET", `${ns}:gen:{${scope}}`])) as string
        const keys = (yield* redis.send(["KEYS", `${ns}:e:{${scope}}:${generation}:*`])) as ReadonlyArray<string>
        assert.lengthOf(keys, 3)
        const values = yield* Effect.forEach(keys, (key) => storedAt(redis, key))
        const stored = values.join("\n")
        if (omit) {
          assert.notInclude(stored, personal)
          assert.include(stored, "se-demobank-password")
          assert.include(stored, "\"fields\":[{\"name\":\"username\"}]", "a provider's fields are kept")
        } else {
          assert.include(stored, personal)
        }
        const reader = yield* instance(ns, { omitCredentialFields: omit })
        const fail = Effect.die("a hit was expected")
        const list = yield* reader.lookup({ scope, key: "GET /list", ttl, schema: List, fetch: fail })
        const one = yield* reader.lookup({ scope, key: "GET /one", ttl, schema: Schemas.Credential, fetch: fail })
        const readProvider = yield* reader.lookup({ scope, key: "GET /provider", ttl, schema: Provider, fetch: fail })
        assert.deepStrictEqual(list.credentials.map((c) => c.id), ["c1", "c2"])
        assert.deepStrictEqual(list.credentials[1]!.fields, omit ? {} : { username: personal })
        assert.deepStrictEqual(one.fields, omit ? {} : { username: personal })
        assert.strictEqual(one.status, "UPDATED")
        assert.deepStrictEqual(readProvider, provider)
      }
    }))

  it.scopedLive("the whole stack (NodeTink over the sandbox): B never gets A's copied list; no key in spans, logs, metrics, errors", () =>
    Effect.gen(function*() {
      const { ns, redis } = yield* setup
      const key = newKey()
      const capture = Capture.make()
      const failures: Array<unknown> = []
      const forged = yield* refused("forged")
      yield* Effect.gen(function*() {
        const a = yield* SandboxClient.seedUser({ credentials: 2 })
        const b = yield* SandboxClient.seedUser({ credentials: 1 })
        const listOf = (user: typeof a) =>
          Users.listCredentials().pipe(Users.asUser(user), Effect.tapError((e) => Effect.sync(() => failures.push(e))))
        const annaIds = (yield* listOf(a)).map((c) => c.id)
        const bobIds = (yield* listOf(b)).map((c) => c.id)
        const entryOf = (userId: string) =>
          Effect.map(redis.send(["KEYS", `${ns}:e:{u:${userId}}:*`]), (keys) => (keys as ReadonlyArray<string>)[0]!)
        yield* replace(redis, yield* entryOf(b.userId), yield* storedAt(redis, yield* entryOf(a.userId)))
        assert.deepStrictEqual((yield* listOf(b)).map((c) => c.id), bobIds)
        assert.notDeepEqual(bobIds, annaIds)
        assert.strictEqual((yield* refused("forged")) - forged, 1)
      }).pipe(
        Effect.provide(NodeTink.layerSandbox({
          redis: {
            url: redisUrl,
            namespace: ns,
            timeout: "1 second",
            generationTtl,
            encryption: { keys: [keyOf(key)] }
          },
          config: { maxRetries: 0 }
        })),
        Effect.withTracer(capture.tracer),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture.logger)),
        Logger.withMinimumLogLevel(LogLevel.All)
      )
      assert.isAbove(capture.spans.length, 0)
      assert.isTrue(capture.logs.some((line) => line.includes("did not open")))
      const everything = [
        ...capture.spans,
        ...capture.openSpans(),
        ...capture.logs,
        ...Capture.metrics(yield* Metric.snapshot),
        ...failures.map(Capture.renderError)
      ]
      for (const text of everything) for (const rendering of renderings(key)) assert.notInclude(text, rendering)
    }))
})
