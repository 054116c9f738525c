/**
 * No error text holds any part of a secret (issue 10.9): whatever Tink echoes back (the whole
 * secret, a piece of it, percent-encoded, JSON-escaped, at any offset, across the 500-character
 * cut), no run of 8 or more characters of a client secret, token or authorization code appears in
 * an error's message, String, JSON, util.inspect or pretty Cause.
 */
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@tink-effect/sandbox"
import { Ids, Users } from "@tink-effect/users"
import { Effect, FastCheck, Redacted } from "effect"
import { testLayer, withClock } from "../utils.js"
import { leakedPart, renderings } from "./leaks.js"

const secretChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="

/** What a token, code or secret may look like: 8 to 80 URL-safe or base64 characters. */
const secret = FastCheck.array(FastCheck.constantFrom(...secretChars.split("")), { minLength: 8, maxLength: 80 })
  .map((chars) => chars.join(""))

type Echo = "whole" | "piece" | "encoded" | "json" | "head" | "tail"

/** Tink's error text with the secret echoed in some form at some offset. */
const echoed = FastCheck.record({
  how: FastCheck.constantFrom<Echo>("whole", "piece", "encoded", "json", "head", "tail"),
  offset: FastCheck.integer({ min: 0, max: 700 }),
  start: FastCheck.nat(),
  filler: FastCheck.constantFrom("x", " ", "é", "0")
})

const echo = (value: string, spec: typeof echoed extends FastCheck.Arbitrary<infer T> ? T : never): string => {
  const start = spec.start % Math.max(1, value.length - 8)
  const part = spec.how === "whole"
    ? value
    : spec.how === "piece"
    ? value.slice(start, start + 8 + (spec.start % 5))
    : spec.how === "encoded"
    ? encodeURIComponent(value)
    : spec.how === "json"
    ? JSON.stringify(value).slice(1, -1)
    : spec.how === "head"
    ? value.slice(0, 8)
    : value.slice(-8)
  return spec.filler.repeat(spec.offset) + part + " was rejected"
}

/** A secret that happens to share 8 characters with the error's fixed text is left out. */
const fixedText = "Tink request invalid: authentication failed: POST GET /api/v1/oauth/token /credentials/list " +
  "status 400 401 code message TinkValidationError TinkAuthenticationError getting the app token " +
  "(user:create) for createUser app credentials rejected by Tink check TINK_CLIENT_ID and TINK_CLIENT_SECRET"
const usable = (value: string) => leakedPart(fixedText, value) === undefined

const assertNoLeak = (error: unknown, secrets: ReadonlyArray<string>) => {
  for (const text of renderings(error)) {
    for (const value of secrets) {
      const part = leakedPart(text, value)
      assert.isUndefined(part, `"${part}" of a secret survives in: ${text.slice(0, 2000)}`)
    }
  }
}

const errorBody = (status: number, message: string, code: string) => ({
  _tag: "Body" as const,
  status,
  body: JSON.stringify({ errorCode: code, errorMessage: message, error_description: message, requestId: code })
})

describe("no part of a secret of 8+ characters in any error", () => {
  it.effect.prop(
    "a session token echoed by Tink",
    { token: secret, spec: echoed },
    ({ spec, token }) =>
      Effect.gen(function*() {
        if (!usable(token)) return
        const sandbox = yield* Sandbox.Sandbox
        yield* sandbox.setFaults([{
          path: "/api/v1/credentials/list",
          fault: errorBody(400, echo(token, spec), echo(token, { ...spec, offset: spec.offset % 40 }))
        }])
        const error = yield* Effect.flip(
          Users.asUser({ userId: Ids.UserId.make("u1"), accessToken: Redacted.make(token) })(Users.listCredentials())
        )
        assert.strictEqual(error._tag, "TinkValidationError")
        assertNoLeak(error, [token])
      }).pipe(Effect.provide(testLayer())),
    { fastCheck: { numRuns: 150 } }
  )

  it.effect.prop(
    "the client secret echoed by the token endpoint, whichever operation needed an app token",
    { clientSecret: secret, spec: echoed, status: FastCheck.constantFrom(400, 401, 403, 500) },
    ({ clientSecret, spec, status }) =>
      Effect.gen(function*() {
        if (!usable(clientSecret)) return
        const sandbox = yield* Sandbox.Sandbox
        yield* sandbox.setFaults([{
          path: "/api/v1/oauth/token",
          fault: errorBody(status, echo(clientSecret, spec), echo(clientSecret, { ...spec, how: "head" }))
        }])
        for (
          const operation of [
            Users.createUser({ market: "SE" }),
            Users.createAuthorization({ userId: Ids.UserId.make("u1"), scope: "user:read" }),
            Users.deleteUser(Ids.UserId.make("u1")),
            Users.getUserAccessToken("some-authorization-code")
          ]
        ) {
          // A 500 is retried after a backoff: the clock is moved along.
          const error = yield* Effect.flip(withClock(operation as Effect.Effect<unknown, unknown, never>))
          assertNoLeak(error, [clientSecret])
        }
      }).pipe(Effect.provide(testLayer({ clientSecret }))),
    { fastCheck: { numRuns: 60 } }
  )

  it.effect.prop(
    "an authorization code echoed by the token endpoint",
    { code: secret, spec: echoed },
    ({ code, spec }) =>
      Effect.gen(function*() {
        if (!usable(code)) return
        const sandbox = yield* Sandbox.Sandbox
        yield* sandbox.setFaults([{ path: "/api/v1/oauth/token", fault: errorBody(400, echo(code, spec), "x") }])
        const error = yield* Effect.flip(Users.getUserAccessToken(Redacted.make(code)))
        assertNoLeak(error, [code])
      }).pipe(Effect.provide(testLayer())),
    { fastCheck: { numRuns: 100 } }
  )
})
