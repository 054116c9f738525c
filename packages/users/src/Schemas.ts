/**
 * The shapes of the Users API: camelCase in TypeScript, snake_case on the wire where Tink
 * uses it. Unknown credential statuses and types are kept as strings: Tink adds values, and a
 * new one must not break a caller that only lists credentials.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { CredentialId, ExternalUserId, UserId } from "./Ids.js"

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
export const CredentialStatus = Schema.Union(KnownCredentialStatus, Schema.String)

/**
 * @since 0.1.0
 * @category models
 */
export type CredentialStatus = typeof KnownCredentialStatus.Type | (string & {})

const nullableOptional = <A, I>(schema: Schema.Schema<A, I>) =>
  Schema.optionalWith(Schema.NullOr(schema), { exact: true })

/**
 * A bank credential of a user (Tink's `Credentials` object).
 *
 * @since 0.1.0
 * @category schemas
 */
export class Credential extends Schema.Class<Credential>("Credential")({
  id: CredentialId,
  providerName: Schema.String,
  type: Schema.optionalWith(Schema.String, { exact: true }),
  status: Schema.optionalWith(CredentialStatus as Schema.Schema<CredentialStatus, string>, { exact: true }),
  statusPayload: nullableOptional(Schema.String),
  statusUpdated: nullableOptional(Schema.Number),
  updated: nullableOptional(Schema.Number),
  fields: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { exact: true }),
  userId: Schema.optionalWith(UserId, { exact: true }),
  sessionExpiryDate: nullableOptional(Schema.Number)
}) {}

/**
 * The body of `GET /api/v1/credentials/list`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CredentialList = Schema.Struct({ credentials: Schema.Array(Credential) })

/**
 * The answer of `POST /api/v1/user/create`.
 *
 * @since 0.1.0
 * @category schemas
 */
export class CreatedUser extends Schema.Class<CreatedUser>("CreatedUser")({
  userId: Schema.propertySignature(UserId).pipe(Schema.fromKey("user_id")),
  externalUserId: Schema.optionalWith(Schema.NullOr(ExternalUserId), { exact: true }).pipe(
    Schema.fromKey("external_user_id")
  )
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
