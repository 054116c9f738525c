import { assert, describe, it } from "@effect/vitest"
import type { TinkClient, TinkError } from "@tink-effect/core"
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
    "path id %s",
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

  it.effect("an externalUserId only travels in a body: any text Tink takes is sent, only unsafe text refused", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      for (const externalUserId of ["a/b", "..", "with space", "café", "user@example.com", "x".repeat(256)]) {
        const created = yield* Users.createUser({ market: "SE", externalUserId })
        const grant = yield* Users.createAuthorization({ externalUserId, scope: "credentials:read" })
        assert.isString(created.userId)
        assert.isDefined(grant.code)
      }
      yield* sandbox.resetCounters
      for (const externalUserId of ["", "x".repeat(257), "id\r\nX-Injected: 1", "\u0000", "a\uD800b", "tab\there"]) {
        for (
          const attempt of [
            Users.createUser({ market: "SE", externalUserId }),
            Users.createAuthorization({ externalUserId, scope: "user:read" })
          ]
        ) {
          const error = yield* Effect.flip(
            attempt as Effect.Effect<unknown, TinkError.TinkError, TinkClient.TinkClient>
          )
          assert.strictEqual(error._tag, "TinkValidationError")
          assert.isUndefined(error.status, "rejected before sending")
        }
      }
      assert.strictEqual(yield* sandbox.totalRequests, 0)
    }).pipe(Effect.provide(testLayer())))

  it.effect("scopes: any comma-separated list of Tink's scope tokens is sent as given", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(0)
      for (
        const scope of ["balance-refresh", "balance-refresh:readonly", "credentials:read,balance-refresh:readonly"]
      ) {
        yield* Users.createAuthorization({ userId: user.userId, scope })
      }
      const sandbox = yield* Sandbox.Sandbox
      const grants = (yield* sandbox.requests).filter((r) => r.path === "/api/v1/oauth/authorization-grant")
      assert.deepStrictEqual(grants.map((r) => new URLSearchParams(r.body).get("scope")), [
        "balance-refresh",
        "balance-refresh:readonly",
        "credentials:read,balance-refresh:readonly"
      ])
    }).pipe(Effect.provide(testLayer())))

  it.effect("idHint: ISO-8859-1 text is sent; other characters are refused before sending", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(0)
      const delegated = (idHint: string) =>
        Users.createAuthorization({
          userId: user.userId,
          scope: "credentials:read",
          idHint,
          actorClientId: Users.tinkLinkActorClientId
        })
      yield* delegated("Åsa Öberg-Müller")
      const sent = (yield* sandbox.requests).find((r) => r.path === "/api/v1/oauth/authorization-grant/delegate")!
      const form = new URLSearchParams(sent.body)
      assert.strictEqual(form.get("id_hint"), "Åsa Öberg-Müller")
      assert.strictEqual(form.get("actor_client_id"), "df05e4b379934cd09963197cc855bfe9")
      yield* sandbox.resetCounters
      for (const idHint of ["Zoë 😀", "Łukasz", "日本", "a\uD800", "line\nbreak", ""]) {
        const error = yield* Effect.flip(delegated(idHint))
        assert.strictEqual(error._tag, "TinkValidationError")
      }
      assert.strictEqual(yield* sandbox.totalRequests, 0)
    }).pipe(Effect.provide(testLayer())))

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
        as(user)(Users.refreshCredential(user.credentials[0].id, { items: ["CHECKING&x=1"] })),
        as(user)(Users.refreshCredential(user.credentials[0].id, { appUri: "app://x\r\nX-Injected: 1" })),
        as(user)(Users.refreshCredential(user.credentials[0].id, { optIn: "yes" as unknown as boolean }))
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
