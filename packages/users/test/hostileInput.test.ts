import { assert, describe, it } from "@effect/vitest"
import type { TinkClient, TinkError } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import { Ids, Users } from "@tink-effect/users"
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
        // Cast, as an untyped caller or a careless `as` would: the operations check again.
        const [credentialId, userId] = [id as Ids.CredentialId, id as Ids.UserId]
        const attempts = [
          as(user)(Users.getCredential(credentialId)),
          as(user)(Users.deleteCredential(credentialId)),
          as(user)(Users.refreshCredential(credentialId)),
          Users.deleteUser(userId),
          Users.createAuthorization({ userId, scope: "credentials:read" }),
          Users.asUser({ userId, accessToken: user.token })(Users.listCredentials())
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

  it.effect("other malformed parameters are rejected before sending, naming the field and its rule", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(1)
      const id = user.credentials[0].id
      yield* sandbox.resetCounters
      const attempts: ReadonlyArray<readonly [Effect.Effect<unknown, TinkError.TinkError, any>, string]> = [
        [Users.createUser(null as never), "options must be an object"],
        [Users.createUser({} as never), "market is required"],
        [Users.createUser({ market: "sweden" }), "market must be an ISO 3166-1 alpha-2 code such as SE"],
        [Users.createUser({ market: "SE", locale: "../etc" }), "locale must look like en_US"],
        [
          Users.createUser({ market: "SE", retentionClass: "forever" as "permanent" }),
          "retentionClass must be permanent or temporary"
        ],
        [
          Users.createUser({ market: "SE", externalUserId: "a\u0000b" }),
          "externalUserId must be 1-256 characters without control characters"
        ],
        [
          Users.createAuthorization({ userId: user.userId, scope: "credentials:read&user_id=other" }),
          "scope must be comma-separated scopes such as credentials:read"
        ],
        [
          Users.createAuthorization({ userId: user.userId, externalUserId: "x", scope: "user:read" } as never),
          "options must give exactly one of userId and externalUserId"
        ],
        [
          Users.createAuthorization({ userId: user.userId, scope: "user:read", idHint: "Jane" }),
          "options must give both idHint and actorClientId for a delegated grant"
        ],
        [
          Users.createAuthorization({ userId: user.userId, scope: "user:read", idHint: "日本", actorClientId: "x" }),
          "idHint must be 1-256 characters of ISO-8859-1 text, as Tink requires"
        ],
        [Users.getUserAccessToken(""), "authorization code must be 1-2048 printable ASCII characters"],
        [Users.getUserAccessToken("code with spaces"), "authorization code must be 1-2048 printable ASCII characters"],
        [
          as(user)(Users.refreshCredential(id, { items: ["CHECKING&x=1"] })),
          "items must be Tink item names: upper-case letters and underscores"
        ],
        [
          as(user)(Users.refreshCredential(id, { appUri: "app://x\r\nX-Injected: 1" })),
          "appUri must be 1-2048 characters without control characters"
        ],
        [as(user)(Users.refreshCredential(id, { optIn: "yes" as unknown as boolean })), "optIn must be a boolean"],
        [as(user)(Users.refreshCredential(id, [] as never)), "options must be an object"],
        [
          as(user)(Users.getCredential("a/b" as Ids.CredentialId)),
          "credentialId must be 1-128 characters of A-Z a-z 0-9 . _ ~ - and not only dots"
        ],
        [
          Users.createAuthorization({ userId: "a/b" as Ids.UserId, scope: "user:read" }),
          "userId must be 1-128 characters of A-Z a-z 0-9 . _ ~ - and not only dots"
        ],
        [
          Users.asUser({ userId: "a b" as Ids.UserId, accessToken: user.token })(Users.listCredentials()),
          "userId must be 1-128 characters of A-Z a-z 0-9 . _ ~ - and not only dots"
        ],
        [
          Users.asUser({ userId: user.userId, accessToken: "plain" as never })(Users.listCredentials()),
          "accessToken must be Redacted"
        ],
        [
          Users.deleteUser(".." as Ids.UserId),
          "userId must be 1-128 characters of A-Z a-z 0-9 . _ ~ - and not only dots"
        ]
      ]
      for (const [attempt, message] of attempts) {
        const error = yield* Effect.flip(attempt)
        assert.strictEqual(error._tag, "TinkValidationError")
        assert.strictEqual(error.errorMessage, message)
      }
      assert.strictEqual(yield* sandbox.totalRequests, 0)
    }).pipe(Effect.provide(testLayer())))

  it.effect("a rejected value is never quoted: secrets and hostile text stay out of the error", () =>
    Effect.gen(function*() {
      const secret = "sk_live_0123456789abcdef"
      const user = yield* seedUser(1)
      const attempts = [
        Users.getUserAccessToken(`${secret} `),
        Users.createUser({ market: secret }),
        Users.createUser({ market: "SE", retentionClass: secret as "permanent" }),
        Users.createUser({ market: "SE", locale: { toString: () => secret } as never }),
        Users.createAuthorization({ userId: `${secret}/` as Ids.UserId, scope: "user:read" }),
        Users.createAuthorization({ userId: user.userId, scope: [secret] as never }),
        as(user)(Users.refreshCredential(user.credentials[0].id, { items: [secret] })),
        as(user)(Users.refreshCredential(user.credentials[0].id, { optIn: secret as never })),
        Users.asUser({ userId: user.userId, accessToken: secret as never })(Users.listCredentials())
      ]
      for (const attempt of attempts) {
        const error = yield* Effect.flip(attempt as Effect.Effect<unknown, TinkError.TinkError, TinkClient.TinkClient>)
        assert.strictEqual(error._tag, "TinkValidationError")
        for (const rendered of [error.message, JSON.stringify(error), String(error)]) {
          assert.notInclude(rendered, "sk_live", rendered)
        }
      }
    }).pipe(Effect.provide(testLayer())))

  it.effect("ids from outside Tink's answers are decoded once, to the brand the operations take", () =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      const fromDatabase: string = user.credentials[0].id
      const id = yield* Ids.decodeCredentialId(fromDatabase)
      const credential = yield* as(user)(Users.getCredential(id))
      assert.strictEqual(credential.id, id)
      const userId = yield* Ids.decodeUserId(String(user.userId))
      assert.strictEqual(userId, user.userId)
      for (const bad of ["a/b", "..", "", 42, null]) {
        const error = yield* Effect.flip(Ids.decodeUserId(bad))
        assert.strictEqual(error._tag, "TinkValidationError")
        assert.strictEqual(
          error.errorMessage,
          "userId must be 1-128 characters of A-Z a-z 0-9 . _ ~ - and not only dots"
        )
      }
      assert.strictEqual(
        (yield* Effect.flip(Ids.decodeCredentialId("a b"))).errorMessage?.startsWith("credentialId"),
        true
      )
      assert.throws(() => Ids.UserId.make("a/b"))
    }).pipe(Effect.provide(testLayer())))

  it.effect("a valid id is percent-encoded into a single path segment", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(0)
      yield* Effect.flip(as(user)(Users.getCredential(Ids.CredentialId.make("a.b~c-d_e"))))
      const paths = (yield* sandbox.requests).map((r) => r.path)
      assert.include(paths, "/api/v1/credentials/a.b~c-d_e")
    }).pipe(Effect.provide(testLayer())))

  it.effect("a plain-string token is refused: sessions hold Redacted tokens only", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Users.asUser({ userId: Ids.UserId.make("u1"), accessToken: "plain" as unknown as Redacted.Redacted<string> })(
          Users.listCredentials()
        )
      )
      assert.strictEqual(error._tag, "TinkValidationError")
    }).pipe(Effect.provide(testLayer())))
})
