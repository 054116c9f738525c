import { assert, describe, it } from "@effect/vitest"
import { ResponseCache, TinkClient, TinkUser } from "@tink-effect/core"
import { Users } from "@tink-effect/users"
import { Effect, Layer, Option, Redacted, Schema } from "effect"
import { as, count, seedUser, testLayer } from "./utils.js"

const list = "/api/v1/credentials/list"
const sessionOf = (user: { readonly userId: string; readonly token: Redacted.Redacted<string> }) =>
  TinkUser.makeSync({ userId: user.userId, accessToken: user.token })

describe("a read given its session directly (TinkUser.provide, Users.asUser)", () => {
  it.effect("reads as the session given, not as the one in context, and leaves the context as it was", () =>
    Effect.gen(function*() {
      const alice = yield* seedUser(2)
      const bob = yield* seedUser(1)
      const run = Effect.gen(function*() {
        const bobs = yield* TinkUser.provide(Users.listCredentials(), sessionOf(bob))
        const stillAlice = yield* TinkUser.TinkUser
        const alices = yield* Users.listCredentials()
        return { bobs, alices, stillAlice }
      }).pipe(Effect.provideService(TinkUser.TinkUser, sessionOf(alice)))
      for (let round = 0; round < 2; round++) {
        const { alices, bobs, stillAlice } = yield* run
        assert.deepStrictEqual(bobs.map((c) => c.id), bob.credentials.map((c) => c.id))
        assert.deepStrictEqual(alices.map((c) => c.id).sort(), alice.credentials.map((c) => c.id).sort())
        assert.strictEqual(stillAlice.userId, alice.userId)
      }
      // Each user's list was fetched once and then served from their own entry.
      assert.strictEqual(yield* count("GET", list), 2)
    }).pipe(Effect.provide(testLayer())))

  it.effect("provides the session as a service to anything else, composed effects included", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      const session = sessionOf(user)
      const composed = Effect.zip(Users.listCredentials(), TinkUser.TinkUser)
      const [credentials, seen] = yield* TinkUser.provide(composed, session)
      assert.strictEqual(seen, session)
      assert.strictEqual(credentials.length, 1)
      const mapped = yield* as(user)(Effect.map(Users.listCredentials(), (all) => all.length))
      assert.strictEqual(mapped, 1)
    }).pipe(Effect.provide(testLayer())))

  it.effect("a client built elsewhere gets the session's auth, and the session in context", () =>
    Effect.gen(function*() {
      const seen: Array<{ readonly auth: TinkClient.Auth; readonly inContext: Option.Option<TinkUser.Session> }> = []
      const fake = TinkClient.TinkClient.of({
        get: (_path, options) =>
          Effect.map(Effect.serviceOption(TinkUser.TinkUser), (inContext) => {
            seen.push({ auth: options.auth, inContext })
            return Schema.decodeUnknownSync(options.schema)({ credentials: [] })
          }),
        post: () => Effect.die("unused"),
        put: () => Effect.die("unused"),
        patch: () => Effect.die("unused"),
        delete: () => Effect.die("unused"),
        shared: (_key, effect) => effect
      })
      const session = TinkUser.makeSync({ userId: "user-1", accessToken: Redacted.make("token-1") })
      const credentials = yield* TinkUser.provide(Users.listCredentials(), session).pipe(
        Effect.provideService(TinkClient.TinkClient, fake)
      )
      assert.deepStrictEqual(credentials, [])
      assert.strictEqual(seen.length, 1)
      assert.deepStrictEqual(seen[0]!.auth, { _tag: "User", session })
      assert.deepStrictEqual(seen[0]!.inContext, Option.some(session))
    }))

  it.effect("reads through a store that cannot always answer at once (readNow undefined)", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      const first = yield* as(user)(Users.listCredentials())
      const again = yield* as(user)(Users.listCredentials())
      assert.strictEqual(again, first, "the second read is the stored value")
      assert.strictEqual(yield* count("GET", list), 1)
      yield* as(user)(Users.deleteCredential(user.credentials[0].id))
      assert.deepStrictEqual(yield* as(user)(Users.listCredentials()), [])
      // Unnamed sessions read a guard scope first: that read too may have to go to `read`.
      const unnamed = Users.asUser(Users.listCredentials(), { accessToken: user.token })
      assert.deepStrictEqual(yield* unnamed, [])
      assert.deepStrictEqual(yield* unnamed, [])
      assert.isAbove(syncAnswers.count, 0, "some reads were answered synchronously")
      assert.isAbove(syncAnswers.declined, 0, "some went to read")
    }).pipe(Effect.provide(testLayer({ cache: halfSyncCache }))))
})

/** A memory store whose `readNow` declines every other call, as a near cache that misses does. */
const syncAnswers = { count: 0, declined: 0 }
const halfSyncCache = Layer.scoped(
  ResponseCache.ResponseCache,
  Effect.suspend(() => {
    const store = ResponseCache.makeMemoryStore({ capacity: 100 })
    const readNow = store.readNow!
    let calls = 0
    return ResponseCache.make({
      ...store,
      readNow: (scope, partition, key, schema, now) => {
        if (calls++ % 2 === 1) {
          syncAnswers.declined++
          return undefined
        }
        syncAnswers.count++
        return readNow(scope, partition, key, schema, now)
      }
    })
  })
)
