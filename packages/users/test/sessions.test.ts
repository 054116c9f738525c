/**
 * Sessions whose user id and token disagree (issue 10.4): a session naming user A with user B's
 * token. Tink acts on the token's user, so such a session must never make `deleteUser` act on
 * anyone but the user named in the call, must not show B's data under A's name, must not change
 * B's credentials, and a mutation must leave no session (named or not) reading data cached before it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@tink-effect/sandbox"
import { Ids, Users } from "@tink-effect/users"
import { Effect, Redacted } from "effect"
import { as, count, seedUser, testLayer } from "./utils.js"

const ids = (credentials: ReadonlyArray<{ readonly id: string }>) => credentials.map((credential) => credential.id)

describe("a session naming user A with user B's token", () => {
  const mismatch = (error: { readonly _tag: string; readonly hint?: string | undefined }) => {
    assert.strictEqual(error._tag, "TinkAuthenticationError")
    assert.include(error.hint ?? "", "belongs to another user")
  }

  it.effect("reads through it fail: Tink's answer is B's data, never shown under A's name", () =>
    Effect.gen(function*() {
      const a = yield* seedUser(1)
      const b = yield* seedUser(2)
      const forged = Users.asUser({ userId: a.userId, accessToken: b.token })
      mismatch(yield* Effect.flip(forged(Users.listCredentials())))
      mismatch(yield* Effect.flip(forged(Users.getCredential(b.credentials[0].id))))
      // Twice: what the first read fetched is not served to the second either.
      mismatch(yield* Effect.flip(forged(Users.listCredentials())))
      assert.deepStrictEqual(ids(yield* as(a)(Users.listCredentials())), ids(a.credentials))
    }).pipe(Effect.provide(testLayer())))

  it.effect("deleteCredential through it changes nobody: B keeps the credential, and B's reads agree", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const a = yield* seedUser(1)
      const b = yield* seedUser(2)
      const forged = Users.asUser({ userId: a.userId, accessToken: b.token })
      const target = b.credentials[0].id
      assert.include(ids(yield* as(b)(Users.listCredentials())), target)
      mismatch(yield* Effect.flip(forged(Users.deleteCredential(target))))
      assert.strictEqual(yield* count("DELETE", `/api/v1/credentials/${target}`), 0, "nothing was sent")
      assert.lengthOf(yield* sandbox.credentials(b.userId), 2)
      assert.include(ids(yield* as(b)(Users.listCredentials())), target)
      assert.deepStrictEqual(ids(yield* as(a)(Users.listCredentials())), ids(a.credentials))
    }).pipe(Effect.provide(testLayer())))

  it.effect("refreshCredential through it changes nobody", () =>
    Effect.gen(function*() {
      const a = yield* seedUser(0)
      const b = yield* seedUser(1)
      const forged = Users.asUser({ userId: a.userId, accessToken: b.token })
      const id = b.credentials[0].id
      mismatch(yield* Effect.flip(forged(Users.refreshCredential(id))))
      assert.strictEqual(yield* count("POST", `/api/v1/credentials/${id}/refresh`), 0, "nothing was sent")
    }).pipe(Effect.provide(testLayer())))

  it.effect("a session without a user id holding B's token reads fresh data after B's mutation", () =>
    Effect.gen(function*() {
      const b = yield* seedUser(2)
      const tokenOnly = Users.asUser({ accessToken: b.token })
      const doomed = b.credentials[0].id
      assert.include(ids(yield* tokenOnly(Users.listCredentials())), doomed)
      yield* as(b)(Users.deleteCredential(doomed))
      assert.notInclude(ids(yield* tokenOnly(Users.listCredentials())), doomed)
    }).pipe(Effect.provide(testLayer())))

  it.effect("an empty list proves no owner: not cached, so deleting the token's user reaches it", () =>
    Effect.gen(function*() {
      const a = yield* seedUser(0)
      const b = yield* seedUser(1)
      const forged = Users.asUser({ userId: b.userId, accessToken: a.token })
      assert.deepStrictEqual(yield* forged(Users.listCredentials()), [])
      yield* Users.deleteUser(a.userId)
      const after = yield* Effect.flip(forged(Users.listCredentials()))
      assert.strictEqual(after._tag, "TinkAuthenticationError", "Tink refuses the deleted user's token")
      // B's own list, which Tink's data ties to B, is cached as ever: the second read is a hit.
      assert.lengthOf(yield* as(b)(Users.listCredentials()), 1)
      yield* as(b)(Users.listCredentials())
      assert.strictEqual(yield* count("GET", "/api/v1/credentials/list"), 3)
    }).pipe(Effect.provide(testLayer())))

  it.effect("a token that may not read credentials is not checked: Tink judges it", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const b = yield* seedUser(1)
      const writeOnly = Redacted.make(yield* sandbox.issueUserToken(b.userId, ["credentials:write"]))
      yield* Users.asUser({ userId: b.userId, accessToken: writeOnly })(Users.deleteCredential(b.credentials[0].id))
      assert.lengthOf(yield* sandbox.credentials(b.userId), 0)
    }).pipe(Effect.provide(testLayer())))

  it.effect("deleteUser(A) with it in context deletes A and never B", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const a = yield* seedUser(1)
      const b = yield* seedUser(1)
      const forged = Users.asUser({ userId: a.userId, accessToken: b.token })
      yield* forged(Users.deleteUser(a.userId))
      assert.isFalse(yield* sandbox.userExists(a.userId), "A, the user named, is deleted")
      assert.isTrue(yield* sandbox.userExists(b.userId), "B, whose token the session held, is untouched")
      assert.lengthOf(yield* sandbox.credentials(b.userId), 1)
    }).pipe(Effect.provide(testLayer())))

  it.effect("deleteUser(B) with a session naming B but holding A's token deletes B and never A", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const a = yield* seedUser(0)
      const b = yield* seedUser(0)
      yield* Users.asUser({ userId: b.userId, accessToken: a.token })(Users.deleteUser(b.userId))
      assert.isFalse(yield* sandbox.userExists(b.userId))
      assert.isTrue(yield* sandbox.userExists(a.userId))
    }).pipe(Effect.provide(testLayer())))
})

describe("deleteUser acts on its userId whatever session is in context", () => {
  it.effect("a session of that user without user:delete: grant + exchange, and the user is deleted", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const userId = Ids.UserId.make((yield* sandbox.createUser({})).userId)
      const readOnly = Redacted.make(yield* sandbox.issueUserToken(userId, ["credentials:read"]))
      yield* Users.asUser({ userId, accessToken: readOnly })(Users.deleteUser(userId))
      assert.isFalse(yield* sandbox.userExists(userId))
      assert.strictEqual(yield* count("POST", "/api/v1/oauth/authorization-grant"), 1)
    }).pipe(Effect.provide(testLayer())))

  it.effect("a session of another user in context: only the named user goes, and its cache with it", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const target = yield* seedUser(1)
      const other = yield* seedUser(1)
      yield* as(target)(Users.listCredentials())
      yield* as(other)(Users.deleteUser(target.userId))
      assert.isFalse(yield* sandbox.userExists(target.userId))
      assert.isTrue(yield* sandbox.userExists(other.userId))
      const after = yield* Effect.either(as(target)(Users.listCredentials()))
      assert.strictEqual(after._tag, "Left", "the deleted user's list is not served from the cache")
    }).pipe(Effect.provide(testLayer())))

  it.effect("its own session in context: the session's token is not used for the delete", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(0)
      yield* as(user)(Users.deleteUser(user.userId))
      assert.isFalse(yield* sandbox.userExists(user.userId))
      const deletes = (yield* sandbox.requests).filter((request) => request.path === "/api/v1/user/delete")
      assert.lengthOf(deletes, 1)
      assert.notStrictEqual(deletes[0]!.headers.authorization, `Bearer ${Redacted.value(user.token)}`)
    }).pipe(Effect.provide(testLayer())))
})
