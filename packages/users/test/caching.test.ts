import { HttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import { Ids, Users } from "@tink-effect/users"
import { Deferred, Effect, Fiber, FiberId, Redacted, TestClock } from "effect"
import { as, count, seedUser, testLayer, withClock } from "./utils.js"

const list = "/api/v1/credentials/list"

describe("caching through the Users operations", () => {
  it.effect("listCredentials and getCredential are cached for 30 s (TestClock)", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      const id = user.credentials[0].id
      yield* as(user)(Effect.all([Users.listCredentials(), Users.getCredential(id)]))
      yield* TestClock.adjust("29 seconds")
      yield* as(user)(Effect.all([Users.listCredentials(), Users.getCredential(id)]))
      assert.strictEqual(yield* count("GET", list), 1)
      assert.strictEqual(yield* count("GET", `/api/v1/credentials/${id}`), 1)
      yield* TestClock.adjust("1 second")
      yield* as(user)(Effect.all([Users.listCredentials(), Users.getCredential(id)]))
      assert.strictEqual(yield* count("GET", list), 2)
      assert.strictEqual(yield* count("GET", `/api/v1/credentials/${id}`), 2)
    }).pipe(Effect.provide(testLayer())))

  it.effect("every mutation invalidates the user's entries and no one else's", () =>
    Effect.gen(function*() {
      const alice = yield* seedUser(2)
      const bob = yield* seedUser(1)
      const warm = Effect.all([as(alice)(Users.listCredentials()), as(bob)(Users.listCredentials())])
      const mutations = [
        as(alice)(Users.refreshCredential(alice.credentials[0].id)),
        as(alice)(Users.deleteCredential(alice.credentials[1].id))
      ]
      let aliceReads = 1
      yield* warm
      for (const mutation of mutations) {
        yield* mutation
        yield* warm
        aliceReads++
        assert.strictEqual(yield* count("GET", list), aliceReads + 1, "alice re-fetched, bob served from cache")
      }
      const after = yield* as(alice)(Users.listCredentials())
      assert.deepStrictEqual(after.map((c) => c.id), [alice.credentials[0].id])
    }).pipe(Effect.provide(testLayer())))

  it.effect("deleteUser clears everything cached for that user", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      yield* as(user)(Effect.all([Users.listCredentials(), Users.getCredential(user.credentials[0].id)]))
      yield* Users.deleteUser(user.userId)
      // The old session's token is dead at Tink: a cached answer would hide that.
      const error = yield* Effect.flip(as(user)(Users.listCredentials()))
      assert.strictEqual(error._tag, "TinkAuthenticationError")
      const single = yield* Effect.flip(as(user)(Users.getCredential(user.credentials[0].id)))
      assert.strictEqual(single._tag, "TinkAuthenticationError")
    }).pipe(Effect.provide(testLayer())))

  it.effect("a definite rejection keeps the cache; an ambiguous failure invalidates it (C4)", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(1)
      const id = user.credentials[0].id
      yield* as(user)(Users.listCredentials())
      const notFound = yield* Effect.flip(as(user)(Users.deleteCredential(Ids.CredentialId.make("no-such-credential"))))
      assert.strictEqual(notFound._tag, "TinkNotFoundError")
      yield* as(user)(Users.listCredentials())
      assert.strictEqual(yield* count("GET", list), 1, "404 kept the cache")

      yield* sandbox.setFaults([{ method: "DELETE", fault: { _tag: "Status", status: 409 } }])
      yield* Effect.flip(as(user)(Users.deleteCredential(id)))
      yield* as(user)(Users.listCredentials())
      assert.strictEqual(yield* count("GET", list), 1, "409 kept the cache")

      yield* sandbox.setFaults([{ method: "DELETE", fault: { _tag: "Status", status: 502 } }])
      const serverError = yield* Effect.flip(as(user)(Users.deleteCredential(id)))
      assert.strictEqual(serverError._tag, "TinkApiError")
      yield* as(user)(Users.listCredentials())
      assert.strictEqual(yield* count("GET", list), 2, "502 may have deleted: invalidated")

      yield* sandbox.setFaults([{ method: "DELETE", fault: { _tag: "Drop" } }])
      const dropped = yield* Effect.flip(as(user)(Users.deleteCredential(id)))
      assert.strictEqual(dropped._tag, "TinkNetworkError")
      yield* as(user)(Users.listCredentials())
      assert.strictEqual(yield* count("GET", list), 3, "a dropped connection may have deleted: invalidated")
    }).pipe(Effect.provide(testLayer())))

  it.effect("a read that got the old data before a mutation is not stored after it (C6)", () => {
    const gate = Deferred.unsafeMake<void>(FiberId.none)
    const arrived = Deferred.unsafeMake<void>(FiberId.none)
    const holdFirstList = (client: HttpClient.HttpClient) => {
      let held = false
      return HttpClient.transformResponse(client, (response) =>
        Effect.tap(response, (r) => {
          if (held || !r.request.url.endsWith(list)) return Effect.void
          held = true
          return Effect.zipRight(Deferred.succeed(arrived, undefined), Deferred.await(gate))
        }))
    }
    return Effect.gen(function*() {
      const user = yield* seedUser(2)
      const staleRead = yield* Effect.fork(as(user)(Users.listCredentials()))
      yield* Deferred.await(arrived)
      yield* as(user)(Users.deleteCredential(user.credentials[1].id))
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(staleRead)).length, 2, "the held read saw Tink before the delete")
      const fresh = yield* as(user)(Users.listCredentials())
      assert.deepStrictEqual(fresh.map((c) => c.id), [user.credentials[0].id])
      assert.strictEqual(yield* count("GET", list), 2)
    }).pipe(Effect.provide(testLayer({ transport: holdFirstList })))
  })

  it.effect("concurrent identical reads make one upstream request (C7)", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(1)
      yield* sandbox.setFaults([{ method: "GET", path: list, fault: { _tag: "Latency", millis: 100 } }])
      const reads = as(user)(Effect.all(Array.from({ length: 20 }, () => Users.listCredentials()), { concurrency: 20 }))
      const results = yield* withClock(reads, "100 millis")
      assert.strictEqual(results.length, 20)
      assert.strictEqual(yield* count("GET", list), 1)
      const stats = yield* ResponseCache.stats
      assert.strictEqual(stats.coalesced, 19)
    }).pipe(Effect.provide(testLayer())))

  it.effect("two users on the same path never share (C8)", () =>
    Effect.gen(function*() {
      const alice = yield* seedUser(1)
      const bob = yield* seedUser(2)
      const aliceList = yield* as(alice)(Users.listCredentials())
      const bobList = yield* as(bob)(Users.listCredentials())
      assert.deepStrictEqual(aliceList.map((c) => c.id), alice.credentials.map((c) => c.id))
      assert.deepStrictEqual(bobList.map((c) => c.id).sort(), bob.credentials.map((c) => c.id).sort())
      assert.strictEqual(yield* count("GET", list), 2)
    }).pipe(Effect.provide(testLayer())))

  it.effect("sessions without a user id are scoped by token and never share", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const alice = yield* seedUser(1)
      const bob = yield* seedUser(2)
      const aliceOnly = Users.asUser({ accessToken: alice.token })
      const bobOnly = Users.asUser({ accessToken: bob.token })
      assert.strictEqual((yield* aliceOnly(Users.listCredentials())).length, 1)
      assert.strictEqual((yield* bobOnly(Users.listCredentials())).length, 2)
      assert.strictEqual((yield* aliceOnly(Users.listCredentials())).length, 1)
      assert.strictEqual(yield* count("GET", list), 2)
      // A second token of the same user, also without id, gets its own entry.
      const second = Redacted.make(yield* sandbox.issueUserToken(alice.userId, ["credentials:read"]))
      yield* Users.asUser({ accessToken: second })(Users.listCredentials())
      assert.strictEqual(yield* count("GET", list), 3)
    }).pipe(Effect.provide(testLayer())))

  it.effect("naming a user's id with another token never reads that user's cached data (C8)", () =>
    Effect.gen(function*() {
      const alice = yield* seedUser(2)
      const bob = yield* seedUser(1)
      yield* as(alice)(Users.listCredentials())
      const madeUp = yield* Effect.flip(
        Users.asUser({ userId: alice.userId, accessToken: Redacted.make("made-up") })(Users.listCredentials())
      )
      assert.strictEqual(madeUp._tag, "TinkAuthenticationError", "Tink saw the token and refused it")
      const bobClaimingAlice = yield* Effect.flip(
        Users.asUser({ userId: alice.userId, accessToken: bob.token })(Users.listCredentials())
      )
      assert.strictEqual(bobClaimingAlice._tag, "TinkAuthenticationError", "Tink answered with Bob's data: not shown")
      // A second token of Alice's own gets its own entry, and her mutations still clear both.
      const sandbox = yield* Sandbox.Sandbox
      const second = Redacted.make(yield* sandbox.issueUserToken(alice.userId, ["credentials:read"]))
      const viaSecond = as({ userId: alice.userId, token: second })(Users.listCredentials())
      assert.strictEqual((yield* viaSecond).length, 2)
      yield* as(alice)(Users.deleteCredential(alice.credentials[1].id))
      assert.strictEqual((yield* viaSecond).length, 1)
      assert.strictEqual((yield* as(alice)(Users.listCredentials())).length, 1)
    }).pipe(Effect.provide(testLayer())))

  it.effect("app-level answers are never cached", () =>
    Effect.gen(function*() {
      yield* Users.createUser({ market: "SE" })
      assert.strictEqual((yield* ResponseCache.stats).size, 0)
    }).pipe(Effect.provide(testLayer())))

  it.effect("the cache holds at most its capacity (C10)", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 5; i++) {
        const user = yield* seedUser(1)
        yield* as(user)(Users.listCredentials())
      }
      assert.strictEqual((yield* ResponseCache.stats).size, 3)
    }).pipe(Effect.provide(testLayer({ capacity: 3 }))))
})
