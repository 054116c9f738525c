/**
 * Rollbacks that come through replication (issue 10, item 3; review R1 #1): a master demoted and
 * resynced from a promoted replica that was behind keeps its process (same `run_id`) and its
 * clients' sockets, and may be promoted again later. Its data set went back in time, generation
 * keys included: nothing cached before may be served again, through the old socket, after the
 * promotion, or through a new instance. Also a failover to the lagging replica itself, and a
 * server that refuses the scripts' INFO (ACL). Every server here is one of the test's own.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Logger, Option, Schedule, Schema } from "effect"
import * as RedisResponseStore from "../../src/RedisResponseStore.js"
import * as RedisServer from "./utils/redisServer.js"

const S = Schema.String
/** Replicas sync at once (Redis 7 waits 5 s by default before a diskless full sync). */
const fastSync = { args: ["--repl-diskless-sync-delay", "0"] }
const ttl = Duration.minutes(5)

const logged: Array<string> = []
const capture = Logger.replace(
  Logger.defaultLogger,
  Logger.make(({ logLevel, message }) => {
    logged.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
  })
)

/** Polls (every 20 ms, at most 10 s) until `redis` is a replica whose link is up and holds `key` as `value`. */
const synced = (redis: RedisServer.RedisServer, key: string, value: unknown) =>
  Effect.gen(function*() {
    const info = String(yield* redis.send(["INFO", "replication"]))
    return /master_link_status:up/.test(info) && (yield* redis.send(["GET", key])) === value
  }).pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (done) => done }),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("replication never caught up") }),
    Effect.orDie
  )

/** Polls (every 20 ms, at most 10 s) until `effect` gives a value satisfying `done`. */
const eventually = <A>(effect: Effect.Effect<A>, done: (a: A) => boolean) =>
  effect.pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: done }),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("condition never reached") }),
    Effect.orDie
  )

const store = (url: string, namespace: string) =>
  RedisResponseStore.make({
    url,
    namespace,
    timeout: "500 millis",
    generationTtl: "2 minutes",
    retrySchedule: Schedule.spaced("20 millis")
  }).pipe(Effect.orDie)

describe("Redis rolled back through replication", () => {
  it.live(
    "a master demoted, resynced from a lagging replica, then promoted again never serves what it had before",
    () =>
      Effect.gen(function*() {
        const r = yield* RedisServer.makeWith(fastSync)
        const m = yield* RedisServer.makeWith(fastSync)
        const ns = "rv"
        const gen = `${ns}:gen:{u:1}`
        const onR = yield* store(r.url, ns)

        const first = yield* onR.read("u:1", "k", S)
        assert.isDefined(first.generation)
        yield* onR.write({ scope: "u:1", generation: first.generation!, key: "k", value: "before", schema: S, ttl })
        assert.deepStrictEqual((yield* onR.read("u:1", "k", S)).value, Option.some("before"))

        // M replicates R, then is promoted: a replica that will miss the next bump.
        yield* m.send(["REPLICAOF", "127.0.0.1", String(r.port)])
        yield* synced(m, gen, first.generation)
        yield* m.send(["REPLICAOF", "NO", "ONE"])
        // Failover to the lagging replica: it holds the old generation and entry, never served.
        const onM = yield* store(m.url, ns)
        const viaM = yield* onM.read("u:1", "k", S)
        assert.isTrue(Option.isNone(viaM.value), "the promoted replica serves nothing written before it was promoted")
        assert.notStrictEqual(viaM.generation, first.generation)
        yield* m.send(["SET", gen, first.generation!]) // M's data set as it was when promoted

        // The mutation: delivered to R, returns.
        yield* onR.invalidate("u:1")
        assert.isTrue(Option.isNone((yield* onR.read("u:1", "k", S)).value))
        const bumped = yield* r.send(["GET", gen])
        assert.notStrictEqual(bumped, first.generation)

        // R is demoted and resyncs from M: same process, same socket, its data rolled back.
        yield* r.send(["REPLICAOF", "127.0.0.1", String(m.port)])
        yield* synced(r, gen, first.generation)
        const errors = yield* onR.errors
        const whileReplica = yield* onR.read("u:1", "k", S)
        assert.deepStrictEqual(
          [whileReplica.generation, whileReplica.value],
          [undefined, Option.none()],
          "a replica is refused"
        )
        assert.isAbove(yield* onR.errors, errors, "counted")
        assert.isTrue(logged.some((line) => /WARN .*not a master/.test(line)), "logged")
        // A value read before the rollback is not stored, and an invalidation goes pending.
        yield* onR.write({ scope: "u:1", generation: first.generation!, key: "k2", value: "stale", schema: S, ttl })
        yield* onR.invalidate("u:1")
        assert.strictEqual(yield* r.send(["GET", gen]), first.generation, "nothing written to a replica")

        // R promoted again: a new epoch, whatever it held is ignored; the pending bump lands.
        yield* r.send(["REPLICAOF", "NO", "ONE"])
        yield* eventually(r.send(["GET", gen]), (value) => value !== first.generation)
        const after = yield* onR.read("u:1", "k", S)
        assert.isTrue(Option.isNone(after.value), "the old socket never gets the old entry back")
        assert.isDefined(after.generation)
        assert.notStrictEqual(after.generation!.slice(0, 17), first.generation!.slice(0, 17), "a new epoch")
        assert.isTrue(Option.isNone((yield* onR.read("u:1", "k2", S)).value))
        assert.isTrue(logged.some((line) => /WARN .*another data set/.test(line)), "the change was logged")

        const fresh = yield* store(r.url, ns)
        assert.isTrue(Option.isNone((yield* fresh.read("u:1", "k", S)).value), "nor a new instance")
        // Caching works again under the new epoch.
        const now = yield* fresh.read("u:1", "k", S)
        yield* fresh.write({ scope: "u:1", generation: now.generation!, key: "k", value: "after", schema: S, ttl })
        assert.deepStrictEqual((yield* onR.read("u:1", "k", S)).value, Option.some("after"))
      }).pipe(Effect.scoped, Effect.provide(capture)),
    30_000
  )

  it.live(
    "the write of a read that started before a rollback is refused, even under the same generation",
    () =>
      Effect.gen(function*() {
        const r = yield* RedisServer.makeWith(fastSync)
        const m = yield* RedisServer.makeWith(fastSync)
        const ns = "rw"
        const gen = `${ns}:gen:{u:1}`
        const onR = yield* store(r.url, ns)
        const read = yield* onR.read("u:1", "k", S)
        yield* m.send(["REPLICAOF", "127.0.0.1", String(r.port)])
        yield* synced(m, gen, read.generation)
        yield* m.send(["REPLICAOF", "NO", "ONE"])
        yield* r.send(["REPLICAOF", "127.0.0.1", String(m.port)])
        yield* synced(r, gen, read.generation)
        yield* r.send(["REPLICAOF", "NO", "ONE"])
        // R's generation key holds exactly the reader's generation, from another epoch.
        assert.strictEqual(yield* r.send(["GET", gen]), read.generation)
        yield* onR.write({ scope: "u:1", generation: read.generation!, key: "k", value: "late", schema: S, ttl })
        assert.strictEqual(yield* r.send(["EXISTS", `${ns}:e:{u:1}:${read.generation}:k`]), 0)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "INFO denied by an ACL: a clear error at start (not 'not reachable'), and reads are misses",
    () =>
      Effect.gen(function*() {
        const r = yield* RedisServer.makeWith(fastSync)
        yield* r.send(["ACL", "SETUSER", "cache", "on", ">cache-pass", "~*", "+@all", "-info"])
        const before = logged.length
        const onR = yield* Effect.scoped(
          Effect.gen(function*() {
            const s = yield* store("redis://cache:cache-pass@127.0.0.1:" + r.port, "acl")
            const first = yield* s.read("u:1", "k", S)
            return first
          })
        )
        assert.deepStrictEqual([onR.generation, onR.value], [undefined, Option.none()])
        const lines = logged.slice(before)
        assert.isTrue(lines.some((line) => /ERROR .*may not run .*INFO.*@dangerous/.test(line)), lines.join("\n"))
        assert.isFalse(lines.some((line) => /not reachable/.test(line)), lines.join("\n"))
        assert.isFalse(lines.some((line) => /cache-pass/.test(line)))
      }).pipe(Effect.scoped, Effect.provide(capture)),
    30_000
  )
})

describe("unix socket URLs", () => {
  it.live("a store over unix:// serves hits", () =>
    Effect.gen(function*() {
      const r = yield* RedisServer.makeWith({ unixSocket: true })
      const s = yield* store(`unix://${r.socketPath}`, "ux")
      const first = yield* s.read("u:1", "k", S)
      assert.isDefined(first.generation)
      yield* s.write({ scope: "u:1", generation: first.generation!, key: "k", value: "v", schema: S, ttl })
      assert.deepStrictEqual((yield* s.read("u:1", "k", S)).value, Option.some("v"))
    }).pipe(Effect.scoped), 30_000)
})
