/**
 * The tolerant reader: what Tink may send (nulls for optional fields, unknown enum values, extra
 * fields, one odd credential in a list) decodes, and callers still get precise types.
 */
import { assert, describe, it } from "@effect/vitest"
import { AccessToken } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import { Schemas, Users } from "@tink-effect/users"
import { Effect, FastCheck, Logger, Schema } from "effect"
import { seedUser, testLayer } from "../utils.js"
import { endpoint, responseExamples } from "./corpus.js"

const reference = responseExamples(endpoint("GET", "/api/v1/credentials/{id}"))
  .find((example) => example.name === "api-reference-response")!.body as Record<string, unknown>

const decodeCredential = Schema.decodeUnknownSync(Schemas.Credential)
/** Decodes when run, in the running fiber, as the pipeline does (not when the effect is built). */
const decodeList = (body: unknown) =>
  Effect.suspend(() => Schema.decodeUnknown(Schemas.CredentialList)(body, { onExcessProperty: "ignore" }))

/** Runs an effect with a logger that keeps every message, to see what the decoding reported. */
const capturingLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lines: Array<{ message: unknown; annotations: Record<string, unknown> }> = []
    const logger = Logger.make(({ annotations, message }) => {
      lines.push({ message, annotations: Object.fromEntries(annotations) })
    })
    const value = yield* Effect.provide(effect, Logger.replace(Logger.defaultLogger, logger))
    return { value, lines }
  })

describe("contract: tolerant reader", () => {
  it("null for every optional credential field reads as absent; fields null reads as {}", () => {
    const credential = decodeCredential({
      id: "6e68cc6287704273984567b3300c5822",
      providerName: "handelsbanken-bankid",
      type: null,
      status: null,
      statusPayload: null,
      statusUpdated: null,
      updated: null,
      fields: null,
      userId: null,
      sessionExpiryDate: null,
      supplementalInformation: null
    })
    assert.deepStrictEqual(Object.keys(credential).sort(), ["fields", "id", "providerName"])
    assert.deepStrictEqual(credential.fields, {})
    const nullValue = decodeCredential({ ...reference, fields: { username: null, otp: "1" } })
    assert.deepStrictEqual(nullValue.fields, { otp: "1" })
  })

  it("unknown statuses and types are kept; extra fields are ignored; dates may be strings", () => {
    const credential = decodeCredential({
      ...reference,
      status: "AWAITING_SOMETHING_NEW",
      type: "FACE_ID",
      somethingTinkAddedLater: { nested: true },
      statusUpdated: "1493379467000",
      updated: "2017-04-28T11:37:47Z"
    })
    assert.strictEqual(credential.status, "AWAITING_SOMETHING_NEW")
    assert.strictEqual(credential.type, "FACE_ID")
    assert.isFalse("somethingTinkAddedLater" in credential)
    assert.strictEqual(credential.statusUpdated, 1493379467000)
    assert.strictEqual(credential.updated, 1493379467000)
  })

  it("token answers: null scope and id_hint read as absent, extra fields ignored", () => {
    const token = Schema.decodeUnknownSync(AccessToken.AccessToken)(
      { access_token: "t", token_type: "bearer", expires_in: 1799, scope: null, id_hint: null, refresh_token: null },
      { onExcessProperty: "ignore" }
    )
    assert.deepStrictEqual(Object.keys(token).sort(), ["accessToken", "expiresIn", "tokenType"])
  })

  it("created users: external_user_id null or absent reads as absent", () => {
    for (const body of [{ user_id: "u1" }, { user_id: "u1", external_user_id: null }]) {
      const created = Schema.decodeUnknownSync(Schemas.CreatedUser)(body)
      assert.isFalse("externalUserId" in created)
    }
  })

  it.effect("one malformed credential does not fail the list: it is left out and logged without values", () =>
    Effect.gen(function*() {
      const personal = "198410045701"
      const { lines, value } = yield* capturingLogs(decodeList({
        credentials: [
          { ...reference, id: "first" },
          { ...reference, id: 42, fields: { username: personal } },
          { providerName: "no-id", fields: {} },
          { ...reference, id: "last" }
        ]
      }))
      assert.deepStrictEqual(value.credentials.map((credential) => credential.id), ["first", "last"])
      assert.strictEqual(lines.length, 1)
      assert.match(String(lines[0]!.message), /2 credential\(s\) that do not decode/)
      assert.strictEqual(lines[0]!.annotations["tink.credentials.dropped"], 2)
      assert.strictEqual(lines[0]!.annotations["tink.credentials.droppedAt"], "1: id; 2: id")
      assert.notInclude(JSON.stringify(lines), personal)
    }))

  it.effect("a documented example without id (the credentials guide's) is left out of a list", () =>
    Effect.gen(function*() {
      const abbreviated = responseExamples(endpoint("GET", "/api/v1/credentials/{id}"))
        .find((example) => example.expect === "noId")!.body
      const { lines, value } = yield* capturingLogs(decodeList({ credentials: [abbreviated, reference] }))
      assert.strictEqual(value.credentials.length, 1)
      assert.strictEqual(lines.length, 1)
    }))

  it.effect("listCredentials over the wire: the odd credential is left out, the caller's logger hears of it", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(0)
      const body = { credentials: [{ ...reference, id: "good" }, { ...reference, id: { odd: true } }] }
      yield* sandbox.setFaults([{
        path: "/api/v1/credentials/list",
        fault: { _tag: "Body", body: JSON.stringify(body) }
      }])
      // The reference credential is the documented user's: read without naming a user id.
      const { lines, value } = yield* capturingLogs(Users.asUser({ accessToken: user.token })(Users.listCredentials()))
      assert.deepStrictEqual(value.map((credential) => credential.id), ["good"])
      assert.isTrue(lines.some((line) => line.annotations["tink.credentials.dropped"] === 1))
    }).pipe(Effect.provide(testLayer())))

  it.effect("a missing or null list reads as empty", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual((yield* decodeList({})).credentials, [])
      assert.deepStrictEqual((yield* decodeList({ credentials: null })).credentials, [])
    }))

  it("property: good credentials survive any malformed neighbours, in order", () => {
    const good = FastCheck.record({
      id: FastCheck.stringMatching(/^[a-f0-9]{32}$/),
      status: FastCheck.option(FastCheck.oneof(FastCheck.constant("UPDATED"), FastCheck.string()), { nil: null }),
      statusPayload: FastCheck.option(FastCheck.string(), { nil: null })
    }).map((overrides) => ({ good: true as const, body: { ...reference, ...overrides } }))
    const bad = FastCheck.oneof(
      FastCheck.constant(null),
      FastCheck.constant("credential"),
      FastCheck.record({ id: FastCheck.oneof(FastCheck.integer(), FastCheck.constant("../x"), FastCheck.constant("")) })
        .map((overrides) => ({ ...reference, ...overrides })),
      FastCheck.constant({ ...reference, providerName: null }),
      FastCheck.constant({ ...reference, fields: ["not", "a", "map"] })
    ).map((body) => ({ good: false as const, body }))
    FastCheck.assert(
      FastCheck.property(FastCheck.array(FastCheck.oneof(good, bad), { maxLength: 12 }), (entries) => {
        const decoded = Effect.runSync(
          decodeList({ credentials: entries.map((entry) => entry.body) }).pipe(
            Effect.provide(Logger.remove(Logger.defaultLogger))
          )
        )
        const expected = entries.filter((entry) => entry.good).map((entry) => (entry.body as { id: string }).id)
        assert.deepStrictEqual(decoded.credentials.map((credential) => credential.id), expected)
      }),
      { numRuns: 200 }
    )
  })

  it("parseSupplementalInformation never throws and always keeps the raw string", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.oneof(FastCheck.string(), FastCheck.json()), (raw) => {
        assert.strictEqual(Schemas.parseSupplementalInformation(raw).raw, raw)
      })
    )
  })
})
