import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@tink-effect/sandbox"
import { Users } from "@tink-effect/users"
import { Effect, Redacted } from "effect"
import { as, seedUser, testLayer } from "./utils.js"

const badIds = [
  "a/b",
  "..",
  ".",
  "%2e%2e",
  "a%2Fb",
  "with space",
  "",
  "x".repeat(10_000),
  "x".repeat(129),
  "café",
  "id\r\nX-Injected: 1",
  "?query",
  "#frag",
  "\u0000"
]

describe("bad input is a TinkValidationError and sends nothing", () => {
  it.effect.each(badIds.map((id) => [JSON.stringify(id).slice(0, 40), id] as const))(
    "id %s",
    ([_label, id]) =>
      Effect.gen(function*() {
        const sandbox = yield* Sandbox.Sandbox
        const user = yield* seedUser(1)
        yield* sandbox.resetCounters
        const attempts = [
          as(user)(Users.getCredential(id)),
          as(user)(Users.deleteCredential(id)),
          as(user)(Users.refreshCredential(id)),
          Users.deleteUser(id),
          Users.createAuthorization({ userId: id, scope: "credentials:read" }),
          Users.createUser({ market: "SE", externalUserId: id }),
          Users.asUser({ userId: id, accessToken: user.token })(Users.listCredentials())
        ]
        for (const attempt of attempts) {
          const error = yield* Effect.flip(attempt)
          assert.strictEqual(error._tag, "TinkValidationError")
          assert.isUndefined(error.status, "rejected before sending")
          assert.isBelow(error.message.length, 300, "the message does not echo the input")
        }
        assert.strictEqual(yield* sandbox.totalRequests, 0)
      }).pipe(Effect.provide(testLayer()))
  )

  it.effect("other malformed parameters are rejected before sending", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(1)
      yield* sandbox.resetCounters
      const attempts = [
        Users.createUser({ market: "sweden" }),
        Users.createUser({ market: "SE", locale: "../etc" }),
        Users.createUser({ market: "SE", retentionClass: "forever" as "permanent" }),
        Users.createAuthorization({ userId: user.userId, scope: "credentials:read&user_id=other" }),
        Users.createAuthorization({ userId: user.userId, externalUserId: "x", scope: "user:read" } as never),
        Users.createAuthorization({ userId: user.userId, scope: "user:read", idHint: "Jane" }),
        Users.getUserAccessToken(""),
        Users.getUserAccessToken("code with spaces"),
        as(user)(Users.refreshCredential(user.credentials[0].id, { items: ["CHECKING&x=1"] }))
      ]
      for (const attempt of attempts) {
        assert.strictEqual((yield* Effect.flip(attempt))._tag, "TinkValidationError")
      }
      assert.strictEqual(yield* sandbox.totalRequests, 0)
    }).pipe(Effect.provide(testLayer())))

  it.effect("a valid id is percent-encoded into a single path segment", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(0)
      yield* Effect.flip(as(user)(Users.getCredential("a.b~c-d_e")))
      const paths = (yield* sandbox.requests).map((r) => r.path)
      assert.include(paths, "/api/v1/credentials/a.b~c-d_e")
    }).pipe(Effect.provide(testLayer())))

  it.effect("a plain-string token is refused: sessions hold Redacted tokens only", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Users.asUser({ userId: "u1", accessToken: "plain" as unknown as Redacted.Redacted<string> })(
          Users.listCredentials()
        )
      )
      assert.strictEqual(error._tag, "TinkValidationError")
    }).pipe(Effect.provide(testLayer())))
})
