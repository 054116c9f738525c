import { assert, describe, it } from "@effect/vitest"
import { TinkClient, TinkUser } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import { Users } from "@tink-effect/users"
import { Cause, Effect, Exit, Redacted, Schema } from "effect"
import { as, count, seedUser, testLayer } from "../utils.js"

/** Bugs the reliability suite found, each kept as the test that showed it. */
describe("reliability regressions", () => {
  it.effect("a deeply nested 2xx body is a TinkDecodeError, not a defect", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(1)
      const body = "[".repeat(5_000) + "]".repeat(5_000)
      yield* sandbox.setFaults([{ path: "/api/v1/credentials/list", fault: { _tag: "Body", body } }])
      const exit = yield* Effect.exit(as(user)(Users.listCredentials()))
      assert.isTrue(Exit.isFailure(exit) && !Cause.isDie(exit.cause))
      const error = yield* Effect.flip(as(user)(Users.listCredentials()))
      assert.strictEqual(error._tag, "TinkDecodeError")
    }).pipe(Effect.provide(testLayer())))

  it.effect("deleteUser clears the cache of a token-only session in context", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      const session = Users.asUser({ accessToken: user.token })
      yield* session(Users.listCredentials())
      yield* session(Users.deleteUser(user.userId))
      const after = yield* Effect.either(session(Users.listCredentials()))
      assert.strictEqual(after._tag, "Left", "the user is gone at Tink; no cached list may answer")
      assert.strictEqual(yield* count("GET", "/api/v1/credentials/list"), 2)
    }).pipe(Effect.provide(testLayer())))

  it.effect("TinkClient never sends a percent-encoded dot segment, which would reach another path", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const client = yield* TinkClient.TinkClient
      const session = yield* TinkUser.make({ userId: "u1", accessToken: Redacted.make("t") })
      for (
        const path of [
          "/api/v1/credentials/%2e%2e/refresh",
          "/api/v1/credentials/.%2E",
          "/api/v1/x/%2E./user/delete",
          "/api/v1/credentials/a%2Fb",
          "/api/v1/credentials/%zz"
        ]
      ) {
        const error = yield* Effect.flip(
          client.get(path, { auth: TinkClient.userAuth(session), schema: Schema.Unknown })
        )
        assert.strictEqual(error._tag, "TinkValidationError")
      }
      assert.strictEqual(yield* sandbox.totalRequests, 0)
    }).pipe(Effect.provide(testLayer())))
})
