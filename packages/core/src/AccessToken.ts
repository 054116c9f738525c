/**
 * The token answer of Tink's OAuth endpoint, for client and user tokens alike.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * An access token. On the wire the fields are snake_case; the token itself is `Redacted` from
 * the moment it is decoded, so it cannot end up in a log line or error by accident. Tink sends
 * `"id_hint": null` in every client-credentials answer (a string only after a delegated grant),
 * so `null` in `id_hint` or `scope` reads as an absent key; extra fields are ignored. Sources:
 * Tink's API reference, General v1, "Get access token" (the response example), and the
 * Permanent users guide's client-token examples; both kept verbatim in
 * `contract/tink/oauth-token.json`, which the contract tests decode through this schema.
 *
 * @since 0.1.0
 * @category schemas
 */
export class AccessToken extends Schema.Class<AccessToken>("AccessToken")({
  accessToken: Schema.propertySignature(Schema.Redacted(Schema.String)).pipe(Schema.fromKey("access_token")),
  tokenType: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("token_type")),
  expiresIn: Schema.propertySignature(Schema.Number).pipe(Schema.fromKey("expires_in")),
  scope: Schema.optionalWith(Schema.String, { exact: true, nullable: true }),
  idHint: Schema.optionalWith(Schema.String, { exact: true, nullable: true }).pipe(Schema.fromKey("id_hint"))
}) {}
