/**
 * The hand-written reader of the common credential form (internal/credentialReader.ts) must build
 * exactly what the `Credential` schema builds, same keys in the same order, and hand everything
 * else to the schema; so must the list read by hand (internal/credentialList.ts) against the
 * list's schema. Checked against the schemas themselves, on the forms Tink sends and on any mix
 * of wrong ones.
 */
import { assert, describe, it } from "@effect/vitest"
import { Schemas } from "@tink-effect/users"
import { Effect, Either, FastCheck, Logger, LogLevel, ParseResult, Schema } from "effect"
import { CredentialArray, CredentialArrayBySchema } from "../src/internal/credentialList.js"
import { readCredentialProps } from "../src/internal/credentialReader.js"

const bySchema = ParseResult.decodeUnknownEither(Schemas.Credential)
const decodeList = Schema.decodeUnknownSync(Schemas.CredentialList)

/** Own keys in order, values compared recursively the same way. */
const shape = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null) return value
  return {
    proto: Object.getPrototypeOf(value) === Schemas.Credential.prototype ? "Credential" : "other",
    entries: Object.keys(value).map((key) => [key, shape((value as Record<string, unknown>)[key])])
  }
}

const text = FastCheck.oneof(
  FastCheck.constantFrom("c0ffee1", "user-1", "..", "", "a b", "1700000000000", "2024-01-01T00:00:00Z", "__proto__"),
  FastCheck.string({ maxLength: 8 })
)
const anyValue = FastCheck.oneof(
  FastCheck.constant(undefined),
  FastCheck.constant(null),
  text,
  FastCheck.oneof(FastCheck.integer(), FastCheck.double(), FastCheck.constant(1_700_000_000_000)),
  FastCheck.boolean(),
  FastCheck.constant([]),
  FastCheck.constant({})
)
/** Each field absent, or any of the values above (strings and numbers most often). */
const field = (value: FastCheck.Arbitrary<unknown>) =>
  FastCheck.option(FastCheck.oneof({ weight: 12, arbitrary: value }, { weight: 1, arbitrary: anyValue }), {
    nil: "absent" as const
  })
const fieldsValue = FastCheck.oneof(
  FastCheck.dictionary(
    FastCheck.oneof(FastCheck.constantFrom("username", "password", "0", "10", "__proto__"), FastCheck.string()),
    FastCheck.oneof(text, FastCheck.constant(null), { weight: 1, arbitrary: anyValue }),
    { maxKeys: 4 }
  ),
  anyValue
)
const credentialInput = FastCheck.record({
  id: field(FastCheck.constantFrom("c0ffee1", "6e68cc6287704273984567b3300c5822")),
  providerName: field(FastCheck.constant("se-demobank-password")),
  type: field(FastCheck.constantFrom("PASSWORD", "SOMETHING_NEW")),
  status: field(FastCheck.constantFrom("UPDATED", "AUTHENTICATING")),
  statusPayload: field(text),
  statusUpdated: field(FastCheck.constant(1_700_000_000_000)),
  updated: field(FastCheck.integer()),
  fields: field(fieldsValue),
  userId: field(FastCheck.constantFrom("bench-user", "u1")),
  sessionExpiryDate: field(FastCheck.constant(1_700_000_000_000)),
  supplementalInformation: field(text),
  extra: field(anyValue)
}).chain((entries) =>
  // Keys in any order, absent ones left out.
  FastCheck.shuffledSubarray(Object.keys(entries), { minLength: Object.keys(entries).length }).map((keys) => {
    const input: Record<string, unknown> = {}
    for (const key of keys) {
      const value = entries[key as keyof typeof entries]
      if (value !== "absent") input[key] = value
    }
    return input
  })
)

describe("credential reader", () => {
  it("builds what the schema builds, or leaves the input to the schema", () => {
    let read = 0
    FastCheck.assert(
      FastCheck.property(credentialInput, (input) => {
        const props = readCredentialProps(input)
        const schema = bySchema(input, { onExcessProperty: "ignore" })
        if (props === undefined) return
        read++
        assert.isTrue(Either.isRight(schema), "the reader accepted what the schema refuses")
        const built = new Schemas.Credential(props as ConstructorParameters<typeof Schemas.Credential>[0], true)
        assert.deepStrictEqual(shape(built), shape(Either.getOrThrow(schema)))
      }),
      { numRuns: 3000 }
    )
    // The property must have exercised the reader, not only the fallback.
    assert.isAbove(read, 300)
  })

  it("reads Tink's common form itself, with nulls and extra fields, and leaves other forms alone", () => {
    const common = {
      extra: { nested: true },
      fields: { username: "user1", password: null },
      providerName: "se-demobank-password",
      id: "c0ffee1",
      status: "UPDATED",
      statusPayload: null,
      updated: 1_700_000_000_000,
      userId: "bench-user"
    }
    assert.deepStrictEqual(readCredentialProps(common), {
      id: "c0ffee1",
      providerName: "se-demobank-password",
      status: "UPDATED",
      updated: 1_700_000_000_000,
      fields: { username: "user1" },
      userId: "bench-user"
    })
    assert.deepStrictEqual(Object.keys(readCredentialProps({ id: "c1", providerName: "p" })!), [
      "id",
      "providerName",
      "fields"
    ])
    // For the schema: timestamps as text, an own undefined, a bad id, a class instance.
    assert.isUndefined(readCredentialProps({ ...common, updated: "1700000000000" }))
    assert.isUndefined(readCredentialProps({ ...common, type: undefined }))
    assert.isUndefined(readCredentialProps({ ...common, userId: "../x" }))
    assert.isUndefined(readCredentialProps(new Map()))
    assert.isUndefined(readCredentialProps([common]))
  })

  it("a list decodes as before: the common form and the schema's forms, a bad credential left out", () => {
    const list = decodeList({
      credentials: [
        { id: "c1", providerName: "p", updated: 5 },
        { id: "c2", providerName: "p", updated: "1970-01-01T00:00:00.006Z" },
        { id: "../x", providerName: "p" },
        { id: "c3", providerName: "p", fields: null, extra: 1 }
      ]
    }, { onExcessProperty: "ignore" })
    assert.deepStrictEqual(
      list.credentials.map((credential): [string, number | undefined] => [credential.id, credential.updated]),
      [
        ["c1", 5],
        ["c2", 6],
        ["c3", undefined]
      ]
    )
    for (const credential of list.credentials) assert.instanceOf(credential, Schemas.Credential)
  })

  it("a list read by hand is what the list's schema decodes, or the schema's own answer", () => {
    const byHand = Schema.decodeUnknownEither(CredentialArray)
    const bySchema = Schema.decodeUnknownEither(CredentialArrayBySchema)
    const body = FastCheck.oneof(
      {
        weight: 8,
        arbitrary: FastCheck.array(credentialInput, { maxLength: 4 }).map((credentials) => ({ credentials }))
      },
      FastCheck.array(credentialInput, { maxLength: 2 }).map((credentials) => ({ credentials, extra: 1 })),
      FastCheck.constantFrom({}, { credentials: null }, { credentials: "none" }, [], null, "text", 1)
    )
    let readByHand = 0
    const check = () =>
      FastCheck.assert(
        FastCheck.property(body, (input) => {
          const expected = bySchema(input, { onExcessProperty: "ignore" })
          const actual = byHand(input, { onExcessProperty: "ignore" })
          if (Either.isLeft(expected)) {
            assert.isTrue(Either.isLeft(actual), "the list read by hand accepted what the schema refuses")
            assert.strictEqual(String(Either.flip(actual).pipe(Either.getOrThrow)), String(expected.left))
            return
          }
          assert.deepStrictEqual(shape(Either.getOrThrow(actual)), shape(expected.right))
          const elements = (input as { credentials?: unknown } | null)?.credentials
          if (Array.isArray(elements) && elements.every((element) => readCredentialProps(element) !== undefined)) {
            readByHand++
          }
        }),
        { numRuns: 2000 }
      )
    // Run in a fiber whose logs are off: the schema reports every credential it leaves out.
    Effect.runSync(Effect.sync(check).pipe(Logger.withMinimumLogLevel(LogLevel.None)))
    assert.isAbove(readByHand, 200)
    // Checking a value of the type side is the schema's: a body is not a list of credentials.
    assert.isFalse(Schema.is(CredentialArray)({ credentials: [] }))
    assert.isTrue(Schema.is(CredentialArray)([]))
    // It encodes back to the body, as the schema does.
    const list = Schema.decodeUnknownSync(CredentialArray)({ credentials: [{ id: "c1", providerName: "p" }] })
    assert.deepStrictEqual(Schema.encodeSync(CredentialArray)(list), Schema.encodeSync(CredentialArrayBySchema)(list))
  })
})
