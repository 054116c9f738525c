/**
 * Direction 1 of the contract: every response Tink documents decodes through our Schemas,
 * verbatim (nulls, extra fields and all), and through the real pipeline.
 */
import { assert, describe, it } from "@effect/vitest"
import { AccessToken } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import { Ids, Schemas, Users } from "@tink-effect/users"
import { Effect, Either, Redacted, Schema } from "effect"
import { seedUser, testLayer } from "../utils.js"
import { endpoint, endpoints, type Example, responseExamples } from "./corpus.js"

const schemaFor: Record<string, Schema.Schema<any, any>> = {
  "POST /api/v1/oauth/token": AccessToken.AccessToken,
  "POST /api/v1/oauth/authorization-grant": Schemas.AuthorizationCode,
  "POST /api/v1/oauth/authorization-grant/delegate": Schemas.AuthorizationCode,
  "POST /api/v1/user/create": Schemas.CreatedUser,
  "GET /api/v1/credentials/list": Schemas.CredentialList,
  "GET /api/v1/credentials/{id}": Schemas.Credential
}

/** As the pipeline decodes a 2xx body. */
const decode = (schema: Schema.Schema<any, any>, body: unknown) =>
  Schema.decodeUnknownEither(schema)(body, { onExcessProperty: "ignore" })

const example = (method: string, path: string, name: string): Example => {
  const found = responseExamples(endpoint(method, path)).find((entry) => entry.name === name)
  if (found === undefined) throw new Error(`no example ${name}`)
  return found
}

describe("contract: documented responses decode", () => {
  it("every documented response example decodes through its Schema", () => {
    let decoded = 0
    for (const entry of endpoints) {
      for (const documented of responseExamples(entry)) {
        const schema = schemaFor[`${entry.method} ${entry.path}`]
        assert.isDefined(schema, `${entry.file}: no schema for a documented response`)
        const result = decode(schema!, documented.body)
        if (documented.expect === "noId") {
          // A credential without an id cannot be acted on: a single one is a decode error, and
          // in a list it is left out (see the tolerance tests).
          assert.isTrue(Either.isLeft(result), `${entry.file} ${documented.name}`)
        } else {
          assert.isTrue(Either.isRight(result), `${entry.file} ${documented.name}: ${String(Either.getLeft(result))}`)
          decoded++
        }
      }
    }
    assert.isAtLeast(decoded, 17)
  })

  it("client-credentials answers: id_hint null reads as absent, the token stays Redacted", () => {
    const body = example("POST", "/api/v1/oauth/token", "client-credentials-user-create").body
    const token = Schema.decodeUnknownSync(AccessToken.AccessToken)(body)
    assert.isUndefined(token.idHint)
    assert.isFalse("idHint" in token)
    assert.strictEqual(token.scope, "user:create")
    assert.strictEqual(token.expiresIn, 1799)
    assert.isTrue(Redacted.isRedacted(token.accessToken))
    const delegated = Schema.decodeUnknownSync(AccessToken.AccessToken)(
      example("POST", "/api/v1/oauth/token", "api-reference-response").body
    )
    assert.strictEqual(delegated.idHint, "John Doe")
  })

  it("credentials: documented nulls are absent, extra fields ignored, supplementalInformation kept raw", () => {
    const reference = Schema.decodeUnknownSync(Schemas.Credential)(
      example("GET", "/api/v1/credentials/{id}", "api-reference-response").body
    )
    assert.isUndefined(reference.supplementalInformation)
    assert.deepStrictEqual(reference.fields, { username: "198410045701" })
    assert.strictEqual(reference.sessionExpiryDate, 1493379467000)
    assert.isUndefined(Schemas.supplementalInformation(reference))

    const awaiting = Schema.decodeUnknownSync(Schemas.Credential)(
      example("GET", "/api/v1/credentials/{id}", "credentials-guide-opt-in-awaiting").body
    )
    assert.strictEqual(awaiting.status, "AWAITING_SUPPLEMENTAL_INFORMATION")
    assert.isFalse("providerLatency" in awaiting)
    const asked = Schemas.supplementalInformation(awaiting)
    assert.strictEqual(asked?._tag, "Fields")
    assert.strictEqual(asked?.raw, awaiting.supplementalInformation)
    if (asked?._tag === "Fields") {
      assert.deepStrictEqual(asked.fields.map((field) => field.name), [
        "9999-444444444444",
        "9999-222222222222",
        "9999-333333333333",
        "9999-111111111111"
      ])
      assert.strictEqual(asked.fields[0]!.checkbox, true)
      assert.isUndefined(asked.fields[0]!.helpText)
    }

    const app = Schema.decodeUnknownSync(Schemas.Credential)(
      example("GET", "/api/v1/credentials/{id}", "sdk-third-party-payload").body
    )
    const payload = Schemas.supplementalInformation(app)
    assert.strictEqual(payload?._tag, "ThirdPartyApp")
    if (payload?._tag === "ThirdPartyApp") {
      assert.match(payload.payload.desktop?.url ?? "", /^https:\/\/cdn\.tink\.se\/fake-bank\//)
      assert.isUndefined(payload.payload.ios?.appStoreUrl)
    }

    const bankId = Schema.decodeUnknownSync(Schemas.Credential)(
      example("GET", "/api/v1/credentials/{id}", "sdk-bankid-autostart-token").body
    )
    assert.deepStrictEqual(Schemas.supplementalInformation(bankId), {
      _tag: "Text",
      raw: "4d13a3a4-38e9-37d8-11cc-6e89982e4b70"
    })
  })

  it("documented supplementalInformation values parse to their kind", () => {
    for (const documented of endpoint("GET", "/api/v1/credentials/{id}").supplementalInformation ?? []) {
      const raw = documented.raw ?? JSON.stringify(documented.value)
      assert.strictEqual(Schemas.parseSupplementalInformation(raw)._tag, documented.kind, documented.name)
    }
  })

  it.effect("createUser works when the token answer is Tink's documented one (\"id_hint\": null)", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      // The exact documented body, with only the token value changed.
      const documented = example("POST", "/api/v1/oauth/token", "client-credentials-user-create").body as object
      yield* sandbox.setFaults([{
        path: "/api/v1/oauth/token",
        times: 1,
        fault: { _tag: "Body", body: JSON.stringify({ ...documented, access_token: "unknown-to-the-sandbox" }) }
      }])
      // The documented answer decodes (0.1.0 failed here with a TinkDecodeError): its token is
      // sent to user/create. The sandbox does not know it, so the client renews and succeeds.
      const error = yield* Effect.either(Users.createUser({ market: "SE" }))
      assert.isTrue(Either.isRight(error) || error.left._tag !== "TinkDecodeError")
      const creates = (yield* sandbox.requests).filter((request) => request.path === "/api/v1/user/create")
      assert.strictEqual(creates[0]?.headers["authorization"], "Bearer unknown-to-the-sandbox")
    }).pipe(Effect.provide(testLayer())))

  it.effect("getUserAccessToken decodes the API reference's token answer", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const documented = example("POST", "/api/v1/oauth/token", "api-reference-response").body
      yield* sandbox.setFaults([{
        path: "/api/v1/oauth/token",
        fault: { _tag: "Body", body: JSON.stringify(documented) }
      }])
      const token = yield* Users.getUserAccessToken("c50cd6960a6f44ffb701ef60fafa7761")
      assert.strictEqual(Redacted.value(token.accessToken), "3084989d7eb94d58995217807441bdf4")
      assert.strictEqual(token.idHint, "John Doe")
    }).pipe(Effect.provide(testLayer())))

  it.effect("listCredentials and getCredential decode the documented bodies through the pipeline", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(0)
      const list = example("GET", "/api/v1/credentials/list", "api-reference-response").body
      const one = example("GET", "/api/v1/credentials/{id}", "credentials-guide-opt-in-awaiting").body
      yield* sandbox.setFaults([
        { path: "/api/v1/credentials/list", fault: { _tag: "Body", body: JSON.stringify(list) } },
        { path: /^\/api\/v1\/credentials\/[^/]+$/, fault: { _tag: "Body", body: JSON.stringify(one) } }
      ])
      // The documented bodies belong to the documented user: a session without a user id reads
      // them (one naming the seeded user would rightly refuse another user's credentials).
      const session = Users.asUser({ accessToken: user.token })
      const credentials = yield* session(Users.listCredentials())
      assert.deepStrictEqual(credentials.map((credential) => credential.id), ["6e68cc6287704273984567b3300c5822"])
      const credential = yield* session(Users.getCredential(Ids.CredentialId.make("e6d7de4350b54f83a7ccf261e3ae5b5f")))
      assert.strictEqual(Schemas.supplementalInformation(credential)?._tag, "Fields")
    }).pipe(Effect.provide(testLayer())))
})
