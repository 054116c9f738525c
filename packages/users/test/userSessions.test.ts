/**
 * Sessions minted by the library (issue 13.4): one minting for concurrent callers, the token
 * kept until shortly before `expires_in` runs out and renewed then (TestClock), cached entries
 * shared by every minted session of a user and scope set, across instances on one store, and
 * never by a session a caller made with another token.
 */
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache, TinkClient, type TinkError, TinkUser } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import { Ids, Users, UserSessions } from "@tink-effect/users"
import {
  Cause,
  type Context,
  Effect,
  Exit,
  Inspectable,
  Layer,
  Logger,
  LogLevel,
  Redacted,
  type Scope,
  TestClock
} from "effect"
import { clientSecret, count, seedUser, testLayer } from "./utils.js"

const grants = count("POST", "/api/v1/oauth/authorization-grant")
const lists = count("GET", "/api/v1/credentials/list")
const read = ["credentials:read"]
const readWrite = ["credentials:read", "credentials:write"]
const ids = (credentials: ReadonlyArray<{ readonly id: string }>) => credentials.map((credential) => credential.id)

const layer = UserSessions.layer().pipe(Layer.provideMerge(testLayer()))

type Services = TinkClient.TinkClient | ResponseCache.ResponseCache | UserSessions.UserSessions
type Instance = Context.Context<Services>

/**
 * Two instances of an app over one sandbox and one shared store, as two processes share a
 * Redis: each has its own client, cache and sessions. The first instance is the test's context.
 */
const fleet = <A, E>(
  body: (second: Instance) => Effect.Effect<A, E, Sandbox.Sandbox | Services>
): Effect.Effect<A, E, Scope.Scope> =>
  Effect.gen(function*() {
    const sandbox = yield* Layer.build(Sandbox.layerTest())
    const store = ResponseCache.makeMemoryStore({ capacity: 1000 })
    const instance = UserSessions.layer().pipe(
      Layer.provideMerge(TinkClient.layer({
        clientId: "sandbox-client",
        clientSecret: Redacted.make(clientSecret),
        baseUrl: "http://sandbox.test",
        maxRetries: 2,
        retryBaseDelay: "100 millis"
      })),
      Layer.provideMerge(ResponseCache.layerStore(Effect.succeed(store))),
      Layer.orDie
    )
    const first = yield* Effect.provide(Layer.build(instance), sandbox)
    const second = yield* Effect.provide(Layer.build(instance), sandbox)
    return yield* body(second).pipe(Effect.provide(first), Effect.provide(sandbox))
  })

const hits = Effect.map(ResponseCache.stats, (stats) => stats.hits)

describe("UserSessions", () => {
  it.effect("concurrent callers for one user and scope set share one minting", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(2)
      const sessions = yield* UserSessions.UserSessions
      const all = yield* Effect.all(
        Array.from({ length: 20 }, (_, i) =>
          sessions.get(user.userId, i % 2 === 0 ? readWrite : [...readWrite].reverse())),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(yield* grants, 1)
      assert.strictEqual(
        new Set(all.map((session) =>
          session.tokenHash
        )).size,
        1
      )
      // Repeats and order do not make another scope set; fewer scopes do.
      yield* sessions.get(user.userId, ["credentials:write", "credentials:read", "credentials:read"])
      assert.strictEqual(yield* grants, 1)
      yield* sessions.get(user.userId, read)
      assert.strictEqual(yield* grants, 2)
      // The operations run as the user, and concurrent reads through the combinator share the minted token.
      const lists = yield* Effect.all(
        Array.from({ length: 5 }, () => UserSessions.asUser(Users.listCredentials(), user.userId, readWrite)),
        { concurrency: "unbounded" }
      )
      for (const list of lists) assert.deepStrictEqual(ids(list), ids(user.credentials))
      assert.strictEqual(yield* grants, 2)
    }).pipe(Effect.provide(layer)))

  it.effect("a token is kept until shortly before expires_in runs out, then renewed", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      const sessions = yield* UserSessions.UserSessions
      // The sandbox's user tokens live 7200 s, as Tink's; renewal is due 60 s before.
      const first = yield* sessions.get(user.userId, read)
      yield* TestClock.adjust("7139 seconds")
      const kept = yield* sessions.get(user.userId, read)
      assert.strictEqual(kept.tokenHash, first.tokenHash)
      assert.strictEqual(yield* grants, 1)
      // Read with the old token just before renewal: the entry lives 30 s.
      yield* UserSessions.asUser(Users.listCredentials(), user.userId, read)
      yield* TestClock.adjust("2 seconds")
      const renewed = yield* sessions.get(user.userId, read)
      assert.notStrictEqual(renewed.tokenHash, first.tokenHash)
      assert.strictEqual(yield* grants, 2)
      // A renewal costs no hits: the new token reads what the old one fetched.
      const before = yield* lists
      assert.deepStrictEqual(
        ids(yield* UserSessions.asUser(Users.listCredentials(), user.userId, read)),
        ids(user.credentials)
      )
      assert.strictEqual(yield* lists, before)
      // The renewed token works at Tink after the old one expired.
      yield* TestClock.adjust("7000 seconds")
      assert.strictEqual(yield* sessions.get(user.userId, read), renewed)
      yield* ResponseCache.bypass(UserSessions.asUser(Users.listCredentials(), user.userId, read))
      assert.strictEqual(yield* lists, before + 1)
    }).pipe(Effect.provide(layer)))

  it.effect("a failed minting is not kept; bad input sends nothing", () =>
    Effect.gen(function*() {
      const sessions = yield* UserSessions.UserSessions
      const unknown = Ids.UserId.make("no-such-user")
      const error = yield* Effect.flip(sessions.get(unknown, read))
      assert.strictEqual(error._tag, "TinkNotFoundError")
      assert.include(error.message, "granting credentials:read for a user session")
      yield* Effect.flip(sessions.get(unknown, read))
      assert.strictEqual(yield* grants, 2)
      for (const scopes of [[], ["credentials:read,credentials:write"], ["a b"], "credentials:read"]) {
        const invalid = yield* Effect.flip(sessions.get(unknown, scopes as ReadonlyArray<string>))
        assert.strictEqual(invalid._tag, "TinkValidationError")
        assert.include(invalid.message, "scopes")
      }
      const badId = yield* Effect.flip(sessions.get("../x" as Ids.UserId, read))
      assert.strictEqual(badId._tag, "TinkValidationError")
      assert.strictEqual(yield* grants, 2)
    }).pipe(Effect.provide(layer)))

  it.effect("a token Tink rejects (401) is forgotten: the next call mints again", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      yield* UserSessions.asUser(Users.listCredentials(), user.userId, read)
      // Tink drops the tokens of a deleted user: the held one now gets 401.
      yield* Users.deleteUser(user.userId)
      const rejected = yield* Effect.flip(UserSessions.asUser(Users.listCredentials(), user.userId, read))
      assert.strictEqual(rejected._tag, "TinkAuthenticationError")
      const grantsBefore = yield* grants
      // Not the same dead token again: a new minting, which Tink refuses for a deleted user.
      const next = yield* Effect.flip(UserSessions.asUser(Users.listCredentials(), user.userId, read))
      assert.strictEqual(next._tag, "TinkNotFoundError")
      assert.strictEqual(yield* grants, grantsBefore + 1)
    }).pipe(Effect.provide(layer)))

  it.effect("the least recently used session leaves beyond the capacity", () =>
    Effect.gen(function*() {
      const sessions = yield* UserSessions.UserSessions
      const a = yield* seedUser(0)
      const b = yield* seedUser(0)
      const c = yield* seedUser(0)
      yield* sessions.get(a.userId, read)
      yield* sessions.get(b.userId, read)
      yield* sessions.get(a.userId, read) // a is now the most recent
      yield* sessions.get(c.userId, read) // b leaves
      assert.strictEqual(yield* grants, 3)
      yield* sessions.get(a.userId, read)
      yield* sessions.get(c.userId, read)
      assert.strictEqual(yield* grants, 3)
      yield* sessions.get(b.userId, read)
      assert.strictEqual(yield* grants, 4)
    }).pipe(Effect.provide(UserSessions.layer({ capacity: 2 }).pipe(Layer.provideMerge(testLayer())))))
})

describe("UserSessions across instances on one store", () => {
  it.scoped("the second instance's minted session hits what the first fetched", () =>
    fleet((second) =>
      Effect.gen(function*() {
        const user = yield* seedUser(2)
        const mine = yield* UserSessions.UserSessions.pipe(Effect.flatMap((s) => s.get(user.userId, read)))
        const theirs = yield* Effect.provide(
          UserSessions.UserSessions.pipe(Effect.flatMap((s) => s.get(user.userId, read))),
          second
        )
        // Two tokens, minted by two instances.
        assert.notStrictEqual(mine.tokenHash, theirs.tokenHash)
        assert.strictEqual(yield* grants, 2)
        assert.deepStrictEqual(
          ids(yield* UserSessions.asUser(Users.listCredentials(), user.userId, read)),
          ids(user.credentials)
        )
        assert.strictEqual(yield* lists, 1)
        const list = yield* Effect.provide(UserSessions.asUser(Users.listCredentials(), user.userId, read), second)
        assert.deepStrictEqual(ids(list), ids(user.credentials))
        assert.strictEqual(yield* lists, 1, "served from the shared store")
        assert.strictEqual(yield* Effect.provide(hits, second), 1)
      })
    ))

  it.scoped("a session a caller made never reads them, whatever it claims", () =>
    fleet((second) =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const user = yield* seedUser(2)
        const other = yield* seedUser(1)
        yield* UserSessions.asUser(Users.listCredentials(), user.userId, read)
        const minted = yield* UserSessions.UserSessions.pipe(Effect.flatMap((s) => s.get(user.userId, read)))
        assert.strictEqual(yield* lists, 1)
        const onSecond = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, second)
        // The user's own token, from elsewhere: a valid session, but not one the library vouches for.
        const ownToken = Redacted.make(yield* sandbox.issueUserToken(user.userId, read))
        yield* onSecond(Users.asUser(Users.listCredentials(), { userId: user.userId, accessToken: ownToken }))
        assert.strictEqual(yield* lists, 2)
        // Another user's token under this user's id, even claiming the minted partition.
        const forged = {
          userId: user.userId,
          accessToken: other.token,
          partition: minted.partition
        } as Users.SessionOptions
        const error = yield* onSecond(Effect.flip(Users.asUser(Users.listCredentials(), forged)))
        assert.strictEqual(error._tag, "TinkAuthenticationError")
        assert.strictEqual(yield* lists, 3, "sent to Tink, not served from the minted entry")
        // Built by TinkUser.make, a session has no partition either.
        const made = yield* TinkUser.make({ userId: user.userId, accessToken: other.token })
        assert.isUndefined(made.partition)
        assert.notStrictEqual(minted.partition, undefined)
      })
    ))

  it.scoped("a mutation through a minted session invalidates every instance's entries for the user", () =>
    fleet((second) =>
      Effect.gen(function*() {
        const user = yield* seedUser(2)
        const doomed = user.credentials[0].id
        const onSecond = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, second)
        for (const scopes of [read, readWrite]) {
          assert.include(ids(yield* UserSessions.asUser(Users.listCredentials(), user.userId, scopes)), doomed)
          assert.include(
            ids(yield* onSecond(UserSessions.asUser(Users.listCredentials(), user.userId, scopes))),
            doomed
          )
        }
        assert.strictEqual(yield* lists, 2)
        yield* onSecond(UserSessions.asUser(Users.deleteCredential(doomed), user.userId, readWrite))
        for (const scopes of [read, readWrite]) {
          assert.notInclude(ids(yield* UserSessions.asUser(Users.listCredentials(), user.userId, scopes)), doomed)
          assert.notInclude(
            ids(yield* onSecond(UserSessions.asUser(Users.listCredentials(), user.userId, scopes))),
            doomed
          )
        }
        assert.strictEqual(yield* lists, 4, "each partition fetched once after the mutation, then shared")
      })
    ))
})

describe("UserSessions and secrets", () => {
  it.effect("no minted token appears in logs, errors or the printed session", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.replace(Logger.defaultLogger, Logger.map(Logger.logfmtLogger, (line) => lines.push(line)))
      const failures: Array<TinkError.TinkError> = []
      const run = Effect.gen(function*() {
        const sessions = yield* UserSessions.UserSessions
        const user = yield* seedUser(1)
        const session = yield* sessions.get(user.userId, readWrite)
        yield* UserSessions.asUser(Users.listCredentials(), user.userId, readWrite)
        failures.push(
          yield* Effect.flip(
            UserSessions.asUser(Users.getCredential(Ids.CredentialId.make("missing")), user.userId, readWrite)
          )
        )
        // 403: the token lacks a scope.
        failures.push(
          yield* Effect.flip(UserSessions.asUser(Users.deleteCredential(user.credentials[0].id), user.userId, read))
        )
        const kept = yield* sessions.get(user.userId, read)
        yield* Users.deleteUser(user.userId)
        failures.push(yield* Effect.flip(UserSessions.asUser(Users.listCredentials(), user.userId, readWrite)))
        const exit = yield* Effect.exit(UserSessions.asUser(Users.listCredentials(), user.userId, readWrite))
        yield* Effect.logError("failed", Exit.isFailure(exit) ? exit.cause : Cause.empty)
        yield* Effect.logDebug("sessions", session, kept)
        return [session, kept] as const
      })
      const tokens = yield* run.pipe(Logger.withMinimumLogLevel(LogLevel.All), Effect.provide(capture))
      assert.isAtLeast(failures.length, 3)
      const shown = [
        ...lines,
        ...failures.flatMap((
          error
        ) => [String(error), error.message, JSON.stringify(error), Inspectable.format(error)]),
        ...tokens.flatMap((session) => [String(session), JSON.stringify(session), Inspectable.format(session)])
      ].join("\n")
      assert.include(shown, "<redacted>")
      for (const session of tokens) assert.notInclude(shown, Redacted.value(session.accessToken))
    }).pipe(Effect.provide(layer)))
})
