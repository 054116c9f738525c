/**
 * The shapes of the Users API: camelCase in TypeScript, snake_case on the wire where Tink
 * uses it. The reader is tolerant where Tink may vary and precise in what it hands callers:
 * `null` for an optional field reads as an absent key (never `null`), unknown enum values are
 * kept as strings, extra fields are ignored, and one credential that does not decode is left out
 * of a list (with a warning log) instead of failing the whole list. The documented examples this
 * is checked against are in `contract/tink/` at the repository root.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { CredentialId, ExternalUserId, UserId } from "./Ids.js"
import { readCredentialProps } from "./internal/credentialReader.js"

/** Optional on the wire, `null` allowed there; in TypeScript the key is simply absent. */
const optionalNullable = <A, I>(schema: Schema.Schema<A, I>) =>
  Schema.optionalWith(schema, { exact: true, nullable: true })

/**
 * The credential statuses of Tink's API reference.
 *
 * @since 0.1.0
 * @category schemas
 */
export const KnownCredentialStatus = Schema.Literal(
  "CREATED",
  "AUTHENTICATING",
  "AWAITING_MOBILE_BANKID_AUTHENTICATION",
  "AWAITING_SUPPLEMENTAL_INFORMATION",
  "UPDATING",
  "UPDATED",
  "AUTHENTICATION_ERROR",
  "TEMPORARY_ERROR",
  "PERMANENT_ERROR",
  "AWAITING_THIRD_PARTY_APP_AUTHENTICATION",
  "DELETED",
  "SESSION_EXPIRED"
)

/**
 * A status: one of the known ones, or any other string Tink may add later.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CredentialStatus = Schema.Union(KnownCredentialStatus, Schema.String) as Schema.Schema<
  CredentialStatus,
  string
>

/**
 * @since 0.1.0
 * @category models
 */
export type CredentialStatus = typeof KnownCredentialStatus.Type | (string & {})

/**
 * How Tink authenticates the user to the bank, as the API reference lists them.
 *
 * @since 0.2.0
 * @category schemas
 */
export const KnownCredentialType = Schema.Literal("PASSWORD", "MOBILE_BANKID", "KEYFOB", "THIRD_PARTY_APP")

/**
 * A credential type: a known one, or any other string Tink may add later.
 *
 * @since 0.2.0
 * @category schemas
 */
export const CredentialType = Schema.Union(KnownCredentialType, Schema.String) as Schema.Schema<
  CredentialType,
  string
>

/**
 * @since 0.2.0
 * @category models
 */
export type CredentialType = typeof KnownCredentialType.Type | (string & {})

/**
 * A timestamp in epoch milliseconds. Tink's examples send numbers; its SDK's schema types the same
 * fields as strings and the API introduction allows ISO 8601 in some places, so numeric and ISO
 * strings are read too. Callers always get a number.
 *
 * @since 0.2.0
 * @category schemas
 */
export const EpochMillis: Schema.Schema<number, number | string> = Schema.Union(
  Schema.Number,
  Schema.transformOrFail(Schema.String, Schema.Number, {
    strict: true,
    decode: (text, _, ast) => {
      const millis = /^-?\d+$/.test(text) ? Number(text) : Date.parse(text)
      return Number.isFinite(millis)
        ? ParseResult.succeed(millis)
        : ParseResult.fail(new ParseResult.Type(ast, text, "not a timestamp"))
    },
    encode: (millis) => ParseResult.succeed(String(millis))
  })
)

/** Field values may be `null`; such entries are left out, as they carry no value. */
const CredentialFields = Schema.transform(
  Schema.Record({ key: Schema.String, value: Schema.NullOr(Schema.String) }),
  Schema.Record({ key: Schema.String, value: Schema.String }),
  {
    strict: true,
    decode: (fields) => {
      const out: Record<string, string> = {}
      for (const [name, value] of Object.entries(fields)) if (value !== null) out[name] = value
      return out
    },
    encode: (fields) => fields
  }
)

/**
 * A bank credential of a user (Tink's `Credentials` object). `fields` is always an object (empty
 * when Tink sends none); every other optional field is absent when Tink sends `null` or nothing.
 * `supplementalInformation` is Tink's raw string: read it with `supplementalInformation`.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Credential extends Schema.Class<Credential>("Credential")({
  id: CredentialId,
  providerName: Schema.String,
  type: optionalNullable(CredentialType),
  status: optionalNullable(CredentialStatus),
  statusPayload: optionalNullable(Schema.String),
  statusUpdated: optionalNullable(EpochMillis),
  updated: optionalNullable(EpochMillis),
  fields: Schema.optionalWith(CredentialFields, { exact: true, nullable: true, default: () => ({}) }),
  userId: optionalNullable(UserId),
  sessionExpiryDate: optionalNullable(EpochMillis),
  supplementalInformation: optionalNullable(Schema.String)
}) {}

/** Which parts of a credential failed, by key path only: values may be personal data. */
const issuePaths = (issue: ParseResult.ParseIssue): Array<string> => {
  try {
    return Array.from(
      new Set(ParseResult.ArrayFormatter.formatIssueSync(issue).map((entry) => entry.path.join(".") || "<root>"))
    ).slice(0, 5)
  } catch {
    return ["<unknown>"]
  }
}

/**
 * Reports left-out credentials as a warning in the fiber that is decoding, so the caller's logger,
 * log annotations and span see it (decoding is synchronous and has no Effect context of its own).
 */
const reportDropped = (dropped: ReadonlyArray<{ readonly index: number; readonly paths: Array<string> }>) => {
  const log = Effect.logWarning(
    `Tink sent ${dropped.length} credential(s) that do not decode; they are left out of the list`
  ).pipe(
    Effect.annotateLogs({
      "tink.credentials.dropped": dropped.length,
      "tink.credentials.droppedAt": dropped.map((entry) => `${entry.index}: ${entry.paths.join(", ")}`).join("; ")
    })
  )
  const fiber = Fiber.getCurrentFiber()
  if (Option.isNone(fiber)) {
    Effect.runSync(log)
    return
  }
  const span = fiber.value.currentSpan
  if (span?._tag === "Span") span.attribute("tink.credentials.dropped", dropped.length)
  Effect.runSync(Effect.zipRight(Effect.setFiberRefs(fiber.value.getFiberRefs()), log))
}

const decodeCredentialSchema = ParseResult.decodeUnknownEither(Credential)

/**
 * A credential as the schema decodes it (unknown fields ignored). The common form is read by
 * hand, about ten times faster; the schema reads the rest and reports what does not decode.
 */
const decodeCredential = (element: unknown): Either.Either<Credential, ParseResult.ParseIssue> => {
  let props: Record<string, unknown> | undefined
  try {
    props = readCredentialProps(element)
  } catch {
    // A getter that throws: the schema meets it too, and says what it makes of it.
    props = undefined
  }
  // Built as the schema's decoding builds it: the properties are checked already.
  return props === undefined
    ? decodeCredentialSchema(element, { onExcessProperty: "ignore" })
    : Either.right(new Credential(props as ConstructorParameters<typeof Credential>[0], true))
}
const encodeCredential = ParseResult.encodeUnknownEither(Credential)

/**
 * A list decoded element by element: a credential that does not decode (no id, an id that is
 * not a safe path segment, a wrongly typed field) is left out and reported, so one odd
 * credential cannot hide the others. Left out rather than kept as an "unknown" member: callers
 * keep a precise `Credential` type, and such a credential could not be acted on anyway.
 *
 * @since 0.2.0
 * @category schemas
 */
export const TolerantCredentials: Schema.Schema<ReadonlyArray<Credential>, ReadonlyArray<unknown>> = Schema
  .transformOrFail(
    Schema.Array(Schema.Unknown),
    Schema.Array(Schema.typeSchema(Credential)),
    {
      strict: true,
      decode: (elements) => {
        const credentials: Array<Credential> = []
        const dropped: Array<{ index: number; paths: Array<string> }> = []
        for (let index = 0; index < elements.length; index++) {
          const decoded = decodeCredential(elements[index])
          if (decoded._tag === "Right") credentials.push(decoded.right)
          else dropped.push({ index, paths: issuePaths(decoded.left) })
        }
        if (dropped.length > 0) reportDropped(dropped)
        return ParseResult.succeed(credentials)
      },
      encode: (credentials) => {
        const encoded: Array<unknown> = []
        for (const credential of credentials) {
          const result = encodeCredential(credential)
          if (result._tag === "Left") return ParseResult.fail(result.left)
          encoded.push(result.right)
        }
        return ParseResult.succeed(encoded)
      }
    }
  )

/**
 * The body of `GET /api/v1/credentials/list`; a missing or `null` list reads as empty.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CredentialList = Schema.Struct({
  credentials: Schema.optionalWith(TolerantCredentials, { exact: true, nullable: true, default: () => [] })
})

/**
 * The answer of `POST /api/v1/user/create`. Tink's guides show it without `external_user_id`
 * when none was given.
 *
 * @since 0.1.0
 * @category schemas
 */
export class CreatedUser extends Schema.Class<CreatedUser>("CreatedUser")({
  userId: Schema.propertySignature(UserId).pipe(Schema.fromKey("user_id")),
  externalUserId: optionalNullable(ExternalUserId).pipe(Schema.fromKey("external_user_id"))
}) {}

/**
 * A single-use authorization code, `Redacted` because it can be exchanged for a user token.
 *
 * @since 0.1.0
 * @category schemas
 */
export class AuthorizationCode extends Schema.Class<AuthorizationCode>("AuthorizationCode")({
  code: Schema.Redacted(Schema.String)
}) {}

/**
 * One input Tink asks the user for while a credential is `AWAITING_SUPPLEMENTAL_INFORMATION`
 * (Tink's `Field`). Answer with `{ [name]: value }` in the supplemental-information request.
 *
 * @since 0.2.0
 * @category schemas
 */
export const SupplementalField = Schema.Struct({
  name: Schema.String,
  description: optionalNullable(Schema.String),
  value: optionalNullable(Schema.String),
  hint: optionalNullable(Schema.String),
  helpText: optionalNullable(Schema.String),
  pattern: optionalNullable(Schema.String),
  patternError: optionalNullable(Schema.String),
  minLength: optionalNullable(Schema.Number),
  maxLength: optionalNullable(Schema.Number),
  optional: optionalNullable(Schema.Boolean),
  masked: optionalNullable(Schema.Boolean),
  numeric: optionalNullable(Schema.Boolean),
  immutable: optionalNullable(Schema.Boolean),
  sensitive: optionalNullable(Schema.Boolean),
  checkbox: optionalNullable(Schema.Boolean),
  additionalInfo: optionalNullable(Schema.String)
})

/**
 * @since 0.2.0
 * @category models
 */
export type SupplementalField = typeof SupplementalField.Type

/**
 * What to open while a credential is `AWAITING_THIRD_PARTY_APP_AUTHENTICATION` (Tink's
 * `ThirdPartyAppAuthenticationPayload`): a deep link per platform and texts for the user.
 *
 * @since 0.2.0
 * @category schemas
 */
export const ThirdPartyAppAuthentication = Schema.Struct({
  android: optionalNullable(Schema.Struct({
    packageName: optionalNullable(Schema.String),
    requiredMinimumVersion: optionalNullable(Schema.Union(Schema.Number, Schema.String)),
    intent: optionalNullable(Schema.String)
  })),
  ios: optionalNullable(Schema.Struct({
    appStoreUrl: optionalNullable(Schema.String),
    scheme: optionalNullable(Schema.String),
    deepLinkUrl: optionalNullable(Schema.String)
  })),
  desktop: optionalNullable(Schema.Struct({ url: optionalNullable(Schema.String) })),
  downloadTitle: optionalNullable(Schema.String),
  downloadMessage: optionalNullable(Schema.String),
  upgradeTitle: optionalNullable(Schema.String),
  upgradeMessage: optionalNullable(Schema.String)
})

/**
 * @since 0.2.0
 * @category models
 */
export type ThirdPartyAppAuthentication = typeof ThirdPartyAppAuthentication.Type

/**
 * A credential's `supplementalInformation`, read. Tink sends a string holding JSON: a list of
 * fields to ask the user for (`Fields`), or a third-party app payload with deep links
 * (`ThirdPartyApp`). JSON of another shape is `Json`; a string that is not JSON (a Mobile BankID
 * autostart token, for one) is `Text`. `raw` is always Tink's string as sent.
 *
 * @since 0.2.0
 * @category models
 */
export type SupplementalInformation =
  | { readonly _tag: "Fields"; readonly raw: string; readonly fields: ReadonlyArray<SupplementalField> }
  | { readonly _tag: "ThirdPartyApp"; readonly raw: string; readonly payload: ThirdPartyAppAuthentication }
  | { readonly _tag: "Json"; readonly raw: string; readonly value: unknown }
  | { readonly _tag: "Text"; readonly raw: string }

const decodeFields = Schema.decodeUnknownOption(Schema.Array(SupplementalField))
const decodeThirdParty = Schema.decodeUnknownOption(ThirdPartyAppAuthentication)

/**
 * Reads a supplemental-information string as Tink sends it. Never fails: what is not one of the
 * documented shapes comes back as `Json` or `Text`, with the raw string.
 *
 * @since 0.2.0
 * @category supplemental information
 */
export const parseSupplementalInformation = (raw: string): SupplementalInformation => {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return { _tag: "Text", raw }
  }
  if (Array.isArray(value)) {
    const fields = decodeFields(value)
    if (Option.isSome(fields)) return { _tag: "Fields", raw, fields: fields.value }
  } else if (typeof value === "object" && value !== null) {
    const payload = decodeThirdParty(value)
    if (Option.isSome(payload)) return { _tag: "ThirdPartyApp", raw, payload: payload.value }
  } else if (typeof value === "string") {
    return { _tag: "Text", raw }
  }
  return { _tag: "Json", raw, value }
}

/**
 * The supplemental information of a credential waiting on the user
 * (`AWAITING_SUPPLEMENTAL_INFORMATION`: the fields to ask for; `AWAITING_THIRD_PARTY_APP_AUTHENTICATION`:
 * the bank app's deep links), raw and parsed; `undefined` when Tink sent none.
 *
 * @example
 * const info = Schemas.supplementalInformation(credential)
 * if (info?._tag === "ThirdPartyApp") redirectTo(info.payload.desktop?.url)
 *
 * @since 0.2.0
 * @category supplemental information
 */
export const supplementalInformation = (credential: Credential): SupplementalInformation | undefined =>
  credential.supplementalInformation === undefined
    ? undefined
    : parseSupplementalInformation(credential.supplementalInformation)
