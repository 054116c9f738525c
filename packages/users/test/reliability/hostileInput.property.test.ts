/**
 * Hostile input, as properties over any string: path segments, encoded slashes and dots, CRLF,
 * very long strings, lone surrogates (not valid UTF-16). Every operation either rejects its input
 * with a TinkValidationError before anything is sent, or sends requests to exactly the paths of
 * that operation, with the value carried intact (percent-encoded in a path or query, form or JSON
 * encoded in a body). Never a request to another path, never a defect.
 */
import { assert, describe, it } from "@effect/vitest"
import type { TinkError } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import { Ids, Users } from "@tink-effect/users"
import { Cause, Effect, Exit, FastCheck, Option, Redacted } from "effect"
import { as, seedUser, testLayer, withClock } from "../utils.js"

const idPattern = /^(?!\.+$)[A-Za-z0-9._~-]{1,128}$/
/** What may travel in a body as an external user id: Tink's rule, not a path rule. */
const isBodyText = (value: string, max: number) =>
  value.length > 0 && value.length <= max &&
  !/[\u0000-\u001f\u007f-\u009f]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value)

const pieces = [
  "..",
  ".",
  "/",
  "\\",
  "%2F",
  "%2f",
  "%2e",
  "%2E%2E",
  "%252F",
  "%00",
  "%",
  "?",
  "#",
  "&",
  "=",
  "+",
  ";",
  "@",
  ":",
  " ",
  "\r\n",
  "\n",
  "\u0000",
  "\uD800",
  "\uDFFF",
  "é",
  "𝕏",
  "a",
  "Z",
  "0",
  "-",
  "_",
  "~",
  "api",
  "v1",
  "user",
  "delete"
]

/** Any string, biased towards what breaks paths and parsers. */
export const hostileString: FastCheck.Arbitrary<string> = FastCheck.oneof(
  FastCheck.string16bits({ maxLength: 40 }),
  FastCheck.fullUnicodeString({ maxLength: 40 }),
  FastCheck.array(FastCheck.constantFrom(...pieces), { minLength: 1, maxLength: 12 }).map((parts) => parts.join("")),
  FastCheck.stringMatching(/^[A-Za-z0-9._~-]{1,128}$/),
  FastCheck.integer({ min: 129, max: 20_000 }).map((length) => "a".repeat(length)),
  FastCheck.constantFrom("", ".", "..", "...", "a/../b", "%2e%2e", "..%2F..%2Fuser%2Fdelete", "a\r\nX-Injected: 1")
)

type Recorded = Sandbox.RecordedRequest

/** Runs an operation on a fresh counter: its exit and the requests it made. */
const attempt = <A, R>(effect: Effect.Effect<A, TinkError.TinkError, R>) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    yield* sandbox.resetCounters
    const exit = yield* Effect.exit(effect)
    return { exit, requests: yield* sandbox.requests }
  })

const failureOf = (exit: Exit.Exit<unknown, TinkError.TinkError>) =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

/** No defect; a rejected input sent nothing and does not echo the input. */
const checkRejectedOrSent = (
  label: string,
  value: string,
  exit: Exit.Exit<unknown, TinkError.TinkError>,
  requests: ReadonlyArray<Recorded>
): boolean => {
  if (Exit.isFailure(exit)) {
    assert.isFalse(Cause.isDie(exit.cause), `${label}: a defect: ${Cause.pretty(exit.cause)}`)
  }
  const error = failureOf(exit)
  const rejected = error?._tag === "TinkValidationError" && error.status === undefined
  if (rejected) {
    assert.lengthOf(requests, 0, `${label}: rejected, yet sent`)
    if (value.length >= 8) assert.notInclude(error.message, value, `${label}: the message echoes the input`)
  }
  return !rejected
}

const onlyPaths = (label: string, requests: ReadonlyArray<Recorded>, allowed: ReadonlyArray<string>) => {
  for (const request of requests) {
    assert.include(allowed, request.path, `${label}: a request to ${JSON.stringify(request.path)}`)
  }
}

const formOf = (request: Recorded | undefined) => new URLSearchParams(request?.body ?? "")

const token = "/api/v1/oauth/token"
const grant = "/api/v1/oauth/authorization-grant"

describe("hostile ids: a TinkValidationError, or a request to exactly the operation's path", () => {
  it.effect.prop("credential, user and external ids", [hostileString], ([id]) =>
    Effect.gen(function*() {
      const user = yield* seedUser(1)
      // Only a valid id is ever sent, and a valid id needs no escaping; `encodeURIComponent` would
      // throw on a lone surrogate, so the expected path is built from the id only when it is valid.
      const credential = idPattern.test(id) ? `/api/v1/credentials/${id}` : "<never sent>"
      // Cast, as an untyped caller or a careless `as` would: the operations check again.
      const [credentialId, userId] = [id as Ids.CredentialId, id as Ids.UserId]
      const cases = [
        ["getCredential", as(user)(Users.getCredential(credentialId)), [credential]],
        // Mutations first read the credential, to check whose it is.
        ["deleteCredential", as(user)(Users.deleteCredential(credentialId)), [credential]],
        ["refreshCredential", as(user)(Users.refreshCredential(credentialId)), [credential, `${credential}/refresh`]],
        ["deleteUser", Users.deleteUser(userId), [token, grant, "/api/v1/user/delete"]],
        ["createAuthorization(userId)", Users.createAuthorization({ userId, scope: "user:read" }), [token, grant]],
        [
          "createAuthorization(externalUserId)",
          Users.createAuthorization({ externalUserId: id, scope: "user:read" }),
          [token, grant]
        ],
        ["createUser(externalUserId)", Users.createUser({ market: "SE", externalUserId: id }), [
          token,
          "/api/v1/user/create"
        ]],
        ["asUser(userId)", Users.asUser({ userId, accessToken: user.token })(Users.listCredentials()), [
          "/api/v1/credentials/list"
        ]]
      ] as const
      for (const [label, operation, allowed] of cases) {
        const { exit, requests } = yield* attempt(operation as Effect.Effect<unknown, TinkError.TinkError>)
        const bodyOnly = label.includes("externalUserId")
        if (!checkRejectedOrSent(label, id, exit, requests)) {
          // Rejected only when Tink's own rule for the value would reject it: no stricter.
          if (bodyOnly) assert.isFalse(isBodyText(id, 256), `${label}: a valid external id was rejected`)
          continue
        }
        if (bodyOnly) assert.isTrue(isBodyText(id, 256), `${label}: an invalid external id was sent`)
        else assert.match(id, idPattern, `${label}: an invalid id was sent`)
        onlyPaths(label, requests, allowed)
        if (label === "createAuthorization(userId)") assert.strictEqual(formOf(requests.at(-1)).get("user_id"), id)
        if (label === "createAuthorization(externalUserId)") {
          assert.strictEqual(formOf(requests.at(-1)).get("external_user_id"), id)
        }
        if (label === "createUser(externalUserId)") {
          assert.strictEqual(JSON.parse(requests.at(-1)!.body).external_user_id, id)
        }
      }
    }).pipe(Effect.provide(testLayer())), { fastCheck: { numRuns: 120 } })
})

const maybe = <A>(arbitrary: FastCheck.Arbitrary<A>) => FastCheck.option(arbitrary, { nil: undefined })

describe("hostile parameters: rejected before sending, or carried intact to the right path", () => {
  it.effect.prop(
    "createUser market, locale and retention class",
    {
      market: FastCheck.oneof(hostileString, FastCheck.constantFrom("SE", "GB")),
      locale: maybe(FastCheck.oneof(hostileString, FastCheck.constantFrom("sv_SE", "en_GB"))),
      retention: maybe(FastCheck.oneof(hostileString, FastCheck.constantFrom("permanent", "temporary")))
    },
    ({ locale, market, retention }) =>
      Effect.gen(function*() {
        const { exit, requests } = yield* attempt(
          Users.createUser({ market, locale, retentionClass: retention as "permanent" | undefined })
        )
        if (!checkRejectedOrSent("createUser", market, exit, requests)) return
        onlyPaths("createUser", requests, [token, "/api/v1/user/create"])
        const body = JSON.parse(requests.at(-1)!.body)
        assert.deepStrictEqual([body.market, body.locale, body.retention_class], [market, locale, retention])
      }).pipe(Effect.provide(testLayer())),
    { fastCheck: { numRuns: 80 } }
  )

  it.effect.prop(
    "createAuthorization scope, idHint and actorClientId",
    {
      scope: FastCheck.oneof(
        hostileString,
        FastCheck.constantFrom(
          "credentials:read",
          "user:read,user:delete",
          "balance-refresh",
          "balance-refresh:readonly,credentials:read"
        )
      ),
      idHint: maybe(FastCheck.oneof(hostileString, FastCheck.constantFrom("Jane Doe", "Åsa Öberg", "Zoë"))),
      actorClientId: maybe(FastCheck.oneof(hostileString, FastCheck.constant("df05e4b379934cd09963197cc855bfe9")))
    },
    ({ actorClientId, idHint, scope }) =>
      Effect.gen(function*() {
        const user = yield* seedUser(0)
        const { exit, requests } = yield* attempt(
          Users.createAuthorization({ userId: user.userId, scope, idHint, actorClientId })
        )
        if (!checkRejectedOrSent("createAuthorization", scope, exit, requests)) return
        const delegated = idHint !== undefined || actorClientId !== undefined
        onlyPaths("createAuthorization", requests, [token, delegated ? `${grant}/delegate` : grant])
        const form = formOf(requests.at(-1))
        assert.strictEqual(form.get("scope"), scope)
        assert.strictEqual(form.getAll("user_id").length, 1)
        if (delegated) {
          assert.strictEqual(form.get("actor_client_id"), actorClientId)
          // Tink requires ISO-8859-1: nothing else is sent, so the value arrives exactly as given
          // (a lone surrogate would have arrived as U+FFFD).
          assert.match(idHint!, /^[\x20-\x7e\xa0-\xff]{1,256}$/)
          assert.strictEqual(form.get("id_hint"), idHint)
        }
      }).pipe(Effect.provide(testLayer())),
    { fastCheck: { numRuns: 80 } }
  )

  it.effect.prop("getUserAccessToken code", [hostileString], ([code]) =>
    Effect.gen(function*() {
      const { exit, requests } = yield* attempt(Users.getUserAccessToken(code))
      if (!checkRejectedOrSent("getUserAccessToken", code, exit, requests)) return
      onlyPaths("getUserAccessToken", requests, [token])
      assert.strictEqual(formOf(requests[0]).get("code"), code)
      assert.strictEqual(formOf(requests[0]).getAll("grant_type").length, 1)
    }).pipe(Effect.provide(testLayer())), { fastCheck: { numRuns: 80 } })

  it.effect.prop(
    "refreshCredential items, appUri and callbackUri",
    {
      items: FastCheck.array(
        FastCheck.oneof(hostileString, FastCheck.constantFrom("CHECKING_ACCOUNTS", "IDENTITY_DATA")),
        {
          maxLength: 4
        }
      ),
      appUri: maybe(hostileString),
      callbackUri: maybe(hostileString),
      optIn: maybe(FastCheck.boolean())
    },
    ({ appUri, callbackUri, items, optIn }) =>
      Effect.gen(function*() {
        const user = yield* seedUser(1)
        const id = user.credentials[0]!.id
        const { exit, requests } = yield* attempt(
          as(user)(Users.refreshCredential(id, { items, appUri, callbackUri, optIn }))
        )
        if (!checkRejectedOrSent("refreshCredential", items.join(""), exit, requests)) return
        const path = `/api/v1/credentials/${id}/refresh`
        onlyPaths("refreshCredential", requests, [`/api/v1/credentials/${id}`, path])
        const refresh = requests.find((request) => request.path === path)!
        const expected: Array<readonly [string, string]> = items.map((item) => ["items", item])
        if (optIn !== undefined) expected.push(["optIn", String(optIn)])
        assert.deepStrictEqual(refresh.query, expected, "the query is exactly the items asked for")
        if (appUri !== undefined || callbackUri !== undefined) {
          const body = JSON.parse(refresh.body)
          // JSON escapes a lone surrogate (\udfff), so even that arrives intact.
          assert.deepStrictEqual([body.appUri, body.callbackUri], [appUri, callbackUri])
        }
      }).pipe(Effect.provide(testLayer())),
    { fastCheck: { numRuns: 80 } }
  )

  it.effect.prop("a session token of any text", [hostileString], ([text]) =>
    Effect.gen(function*() {
      // A token that cannot be a header value is a request that was never sent: retried after a
      // backoff, so the clock is moved along.
      const { exit, requests } = yield* attempt(
        withClock(
          Users.asUser({ userId: Ids.UserId.make("u1"), accessToken: Redacted.make(text) })(Users.listCredentials())
        )
      )
      assert.isTrue(Exit.isFailure(exit), "no such token at Tink")
      checkRejectedOrSent("token", text, exit, requests)
      onlyPaths("token", requests, ["/api/v1/credentials/list"])
      for (const request of requests) assert.strictEqual(request.headers.authorization, `Bearer ${text}`.trim())
      const error = failureOf(exit)!
      if (text.length >= 8) {
        for (const rendered of [error.message, JSON.stringify(error), String(error)]) assert.notInclude(rendered, text)
      }
    }).pipe(Effect.provide(testLayer())), { fastCheck: { numRuns: 80 } })
})

/** Any value at all, as untyped callers (JavaScript, JSON input) may pass: never a defect. */
const anyValue: FastCheck.Arbitrary<unknown> = FastCheck.oneof(
  hostileString,
  FastCheck.anything({ maxDepth: 2 }),
  FastCheck.constantFrom(undefined, null, 0, Number.NaN, true, [], {}, ["CHECKING_ACCOUNTS"], Symbol("s"))
)

describe("any value at every parameter: a typed error or a request, never a defect", () => {
  it.effect.prop(
    "every parameter of every operation",
    { value: anyValue, at: FastCheck.nat() },
    ({ at, value }) =>
      Effect.gen(function*() {
        const user = yield* seedUser(1)
        const id = user.credentials[0]!.id
        const v = value as never
        const operations: ReadonlyArray<readonly [string, Effect.Effect<unknown, TinkError.TinkError, any>]> = [
          ["createUser.market", Users.createUser({ market: v })],
          ["createUser.locale", Users.createUser({ market: "SE", locale: v })],
          ["createUser.externalUserId", Users.createUser({ market: "SE", externalUserId: v })],
          ["createUser.retentionClass", Users.createUser({ market: "SE", retentionClass: v })],
          ["createUser(options)", Users.createUser(v)],
          ["createAuthorization.userId", Users.createAuthorization({ userId: v, scope: "user:read" })],
          ["createAuthorization.externalUserId", Users.createAuthorization({ externalUserId: v, scope: "user:read" })],
          ["createAuthorization.scope", Users.createAuthorization({ userId: user.userId, scope: v })],
          [
            "createAuthorization.idHint",
            Users.createAuthorization({ userId: user.userId, scope: "user:read", idHint: v, actorClientId: "x" })
          ],
          [
            "createAuthorization.actorClientId",
            Users.createAuthorization({ userId: user.userId, scope: "user:read", idHint: "Jo", actorClientId: v })
          ],
          ["getUserAccessToken", Users.getUserAccessToken(v)],
          ["getCredential", as(user)(Users.getCredential(v))],
          ["deleteCredential", as(user)(Users.deleteCredential(v))],
          ["refreshCredential.id", as(user)(Users.refreshCredential(v))],
          ["refreshCredential.items", as(user)(Users.refreshCredential(id, { items: v }))],
          ["refreshCredential.optIn", as(user)(Users.refreshCredential(id, { optIn: v }))],
          ["refreshCredential.authenticate", as(user)(Users.refreshCredential(id, { authenticate: v }))],
          ["refreshCredential.appUri", as(user)(Users.refreshCredential(id, { appUri: v }))],
          ["refreshCredential.callbackUri", as(user)(Users.refreshCredential(id, { callbackUri: v }))],
          ["refreshCredential(options)", as(user)(Users.refreshCredential(id, v))],
          ["deleteUser", Users.deleteUser(v)],
          ["asUser.userId", Users.asUser({ userId: v, accessToken: user.token })(Users.listCredentials())]
        ]
        // Each run tries a few parameters, so every one is reached many times over the runs.
        for (let k = 0; k < 4; k++) {
          const [label, operation] = operations[(at + k * 7) % operations.length]!
          const exit = yield* Effect.exit(withClock(operation as Effect.Effect<unknown, TinkError.TinkError, never>))
          if (Exit.isFailure(exit)) {
            assert.isFalse(Cause.isDie(exit.cause), `${label}: a defect: ${Cause.pretty(exit.cause)}`)
            assert.isTrue(Option.isSome(Cause.failureOption(exit.cause)), `${label}: not a typed failure`)
          }
        }
      }).pipe(Effect.provide(testLayer())),
    { fastCheck: { numRuns: 120 } }
  )
})
