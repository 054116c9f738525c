/**
 * The Redis faults of redisFaults.test.ts and the model's fault world, with the stores' near caches
 * on (issue 12): two instances on a redis-server of the test's own, B through a fault proxy. B's
 * near cache holds a user's list; the fault strikes; A deletes one of the user's credentials while
 * it lasts (so B may never get the push); the fault ends. Then:
 * - a fault that costs B its connection, or its tracking (the client killed, the link cut, Redis
 *   killed and restarted empty, rolled back to an older snapshot, flushed) must have emptied B's
 *   near cache (`Cleared`), with nothing remembered from before it;
 * - a fault that only delays or reroutes the push (Redis full, so the invalidation deletes the
 *   generation key; the link slowed past the command bound) must end with B dropping the user on
 *   Redis's push;
 * - a link that goes silent (paused) stops B's near cache from serving within its silence bound;
 * and in every case, no read through B after the fault (nor, for the pause, after the bound)
 * returns the deleted credential, until B serves the fresh list from its near cache again. The
 * table of what each row saw is printed.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { ResponseCache } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import { Ids, Users } from "@tink-effect/users"
import { Context, Deferred, Effect, Layer, Logger, LogLevel, Redacted, Schedule, type Scope } from "effect"
import * as NearCache from "../../src/internal/redisNearCache.js"
import * as RedisStore from "../../src/internal/redisStore.js"
import * as Instance from "../utils/instance.js"
import * as FaultProxy from "./utils/faultProxy.js"
import * as RedisServer from "./utils/redisServer.js"

/** Everything a row works with. */
interface Rig {
  readonly redis: RedisServer.RedisServer
  readonly proxy: FaultProxy.FaultProxy
  readonly kept: string
  readonly doomed: string
  /** The user's cache scope. */
  readonly scope: string
  /** A's and B's list of the user's credential ids (sorted). */
  readonly list: (on: "a" | "b") => Effect.Effect<ReadonlyArray<string>>
  readonly remove: Effect.Effect<void>
  readonly nearB: NearCache.NearCache
  /** Every event of B's near cache since the rig was made, as `Cleared(connection)`, `Dropped(push)`... */
  readonly eventsB: Array<string>
  /** Resolves at B's next near-cache event `match` accepts (listening from the call on). */
  readonly nextB: (match: (event: NearCache.Event) => boolean) => Effect.Effect<Effect.Effect<void>, never, Scope.Scope>
}

/** How a row's fault plays: started before A's delete, ended after it. */
interface Row {
  readonly name: string
  readonly args?: ReadonlyArray<string> | undefined
  /** What B's near cache must do about it: be emptied, drop the user on a push, or go silent. */
  readonly expect: "cleared" | "pushed" | "silent"
  readonly start: (rig: Rig) => Effect.Effect<void>
  readonly end: (rig: Rig) => Effect.Effect<void>
}

const instance = (url: string, namespace: string, baseUrl: string) =>
  Effect.gen(function*() {
    let near: NearCache.NearCache | undefined
    const cache = Effect.flatMap(
      RedisStore.make({
        url,
        namespace,
        timeout: "100 millis",
        invalidationTimeout: "300 millis",
        generationTtl: "2 minutes",
        retrySchedule: Schedule.spaced("20 millis"),
        nearCache: { capacity: 100 }
      }),
      (store) => {
        near = store.near
        return ResponseCache.make(store)
      }
    )
    const context = yield* Instance.build({
      baseUrl,
      client: { maxRetries: 0 },
      cache: Layer.scoped(ResponseCache.ResponseCache, cache)
    })
    return { context, near: near! }
  })

const describeEvent = (event: NearCache.Event) =>
  event._tag === "Discarded" ? "Discarded" : `${event._tag}(${event.by})`

const makeRig = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const redis = yield* RedisServer.makeWith({ args })
    const proxy = yield* FaultProxy.make({ host: "127.0.0.1", port: redis.port })
    const sandboxContext = yield* Layer.build(SandboxServer.layer())
    const server = Context.get(sandboxContext, SandboxServer.SandboxServer)
    const sandbox = Context.get(sandboxContext, Sandbox.Sandbox)
    const namespace = "near"
    const a = yield* instance(redis.url, namespace, server.url)
    const b = yield* instance(`redis://127.0.0.1:${proxy.port}`, namespace, server.url)
    const userId = Ids.UserId.make((yield* sandbox.createUser({})).userId)
    const kept = (yield* sandbox.addCredential(userId)).id
    const doomed = (yield* sandbox.addCredential(userId)).id
    const accessToken = Redacted.make(yield* sandbox.issueUserToken(userId, ["credentials:read", "credentials:write"]))
    const asUser = Users.asUser({ userId, accessToken })
    const eventsB: Array<string> = []
    const listener = (event: NearCache.Event) => {
      if (event.cache === b.near) eventsB.push(describeEvent(event))
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => NearCache.listeners.add(listener)),
      () => Effect.sync(() => NearCache.listeners.delete(listener))
    )
    const nextB = (match: (event: NearCache.Event) => boolean) =>
      Effect.gen(function*() {
        const seen = yield* Deferred.make<void>()
        const watch = (event: NearCache.Event) => {
          if (event.cache === b.near && match(event)) Deferred.unsafeDone(seen, Effect.void)
        }
        yield* Effect.acquireRelease(
          Effect.sync(() => NearCache.listeners.add(watch)),
          () => Effect.sync(() => NearCache.listeners.delete(watch))
        )
        return Deferred.await(seen).pipe(
          Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the near cache event never came") }),
          Effect.orDie
        )
      })
    const rig: Rig = {
      redis,
      proxy,
      kept,
      doomed,
      scope: `u:${userId}`,
      list: (on) =>
        Users.listCredentials().pipe(
          asUser,
          Effect.provide(on === "a" ? a.context : b.context),
          Effect.map((credentials) => credentials.map((credential) => credential.id).sort()),
          Effect.orDie
        ),
      remove: Users.deleteCredential(Ids.CredentialId.make(doomed)).pipe(
        asUser,
        Effect.provide(a.context),
        Effect.orDie
      ),
      nearB: b.near,
      eventsB,
      nextB
    }
    return rig
  })

/** Reads through B until its near cache serves the list; at most 2 s. */
const warm = (rig: Rig) =>
  rig.list("b").pipe(
    Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: () => rig.nearB.size() > 0 }),
    Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => new Error("B's near cache never filled") }),
    Effect.orDie
  )

/**
 * Reads through B until its near cache serves the list again (after the fault), every read
 * checked: none may return the deleted credential. Returns how many reads it took.
 */
const freshUntilNear = (rig: Rig) =>
  Effect.gen(function*() {
    let reads = 0
    for (;;) {
      reads++
      const fromNear = rig.nearB.size() > 0
      assert.deepStrictEqual(yield* rig.list("b"), [rig.kept], `read ${reads} through B after the fault`)
      if (fromNear) return reads
      if (reads > 200) assert.fail("B's near cache never served again")
      yield* Effect.sleep("10 millis")
    }
  })

const connectionLost = (event: NearCache.Event) => event._tag === "Cleared"

const rows: ReadonlyArray<Row> = [
  {
    name: "B's connection killed (CLIENT KILL) while A deletes",
    expect: "cleared",
    start: (rig) => Effect.asVoid(rig.redis.send(["CLIENT", "KILL", "TYPE", "normal"])),
    end: () => Effect.void
  },
  {
    name: "B's link cut while A deletes, then back",
    expect: "cleared",
    start: (rig) => rig.proxy.set({ _tag: "cut" }),
    end: (rig) => rig.proxy.set({ _tag: "open" })
  },
  {
    name: "Redis killed (SIGKILL) while A deletes, restarted empty",
    expect: "cleared",
    start: (rig) => rig.redis.kill,
    end: (rig) => rig.redis.start
  },
  {
    name: "Redis flushed (FLUSHALL) while A deletes",
    expect: "cleared",
    start: (rig) => Effect.asVoid(rig.redis.send(["FLUSHALL"])),
    end: () => Effect.void
  },
  {
    name: "Redis full (maxmemory, noeviction): the invalidation deletes the generation key",
    args: ["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"],
    expect: "pushed",
    start: (rig) => Effect.asVoid(rig.redis.fill),
    end: (rig) => Effect.asVoid(rig.redis.send(["CONFIG", "SET", "maxmemory", "0"]))
  },
  {
    name: "B's link slowed to 150 ms (past the 100 ms command bound) while A deletes",
    expect: "pushed",
    start: (rig) => rig.proxy.set({ _tag: "latency", millis: 150 }),
    end: (rig) => rig.proxy.set({ _tag: "open" })
  },
  {
    name: "B's link paused (silent) while A deletes, then back",
    expect: "silent",
    start: (rig) => rig.proxy.set({ _tag: "pause" }),
    end: (rig) => rig.proxy.set({ _tag: "open" })
  }
]

/** How long a silent connection's near cache may serve: its silence bound plus one heartbeat, plus slack. */
const silentBoundMillis = 1_000 + 200 + 300

const table: Array<string> = []

describe("near cache under Redis faults", () => {
  for (const row of rows) {
    it.live(row.name, () =>
      Effect.gen(function*() {
        const rig = yield* makeRig(row.args ?? [])
        yield* rig.list("a")
        yield* warm(rig)
        assert.deepStrictEqual(yield* rig.list("b"), [rig.doomed, rig.kept].sort())
        const before = rig.eventsB.length

        const cleared = yield* rig.nextB(connectionLost)
        const startedAt = Date.now()
        yield* row.start(rig)
        if (row.expect === "cleared") {
          yield* cleared
          assert.deepStrictEqual(rig.nearB.census(), { entries: 0, scopes: 0 }, "emptied at once")
        }
        const pushed = yield* rig.nextB((event) =>
          event._tag === "Dropped" && event.by === "push" && event.scope === rig.scope
        )
        yield* rig.remove
        let staleWhileSilent = 0
        if (row.expect === "pushed") yield* pushed
        if (row.expect === "silent") {
          // Until the bound, B may still serve the list from before the delete; after it, never.
          for (;;) {
            const elapsed = Date.now() - startedAt
            const ids = yield* rig.list("b")
            if (ids.includes(rig.doomed)) {
              staleWhileSilent++
              assert.isAtMost(elapsed, silentBoundMillis, "a silent near cache served past its bound")
            } else break
            yield* Effect.sleep("50 millis")
          }
          for (let i = 0; i < 3; i++) assert.deepStrictEqual(yield* rig.list("b"), [rig.kept], "silent, past the bound")
        }
        yield* row.end(rig)
        const reads = yield* freshUntilNear(rig)
        const seen = rig.eventsB.slice(before)
        if (row.expect === "cleared") assert.isTrue(seen.some((event) => event.startsWith("Cleared")), seen.join(" "))
        if (row.expect === "pushed") assert.include(seen, "Dropped(push)")
        table.push(
          `| ${row.name} | ${[...new Set(seen)].join(", ")} | ${
            row.expect === "silent" ? `${staleWhileSilent} within the silence bound` : "0"
          } | ${reads} |`
        )
      }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.None)), 20_000)
  }
})

afterAll(() => {
  const order = rows.map((row) => row.name)
  const rank = (line: string) => order.findIndex((name) => line.startsWith(`| ${name} |`))
  console.log(
    [
      "| fault (near cache on) | B's near cache events | reads through B with the deleted credential | reads until B's near cache served again, all fresh |",
      "|---|---|---|---|",
      ...table.sort((x, y) => rank(x) - rank(y))
    ].join("\n")
  )
})
