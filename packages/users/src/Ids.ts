/**
 * Branded, validated identifiers. Tink's ids are opaque; ids that go into a path (user and
 * credential ids) are 1-128 characters of `[A-Za-z0-9._~-]` (never only dots), which keeps every
 * one a single, harmless path segment. Values that only travel in a body follow Tink's own rules.
 *
 * The operations take the branded ids they return (`Credential.id`, `CreatedUser.userId`), so an
 * id from Tink passes straight through. An id from elsewhere (a database, a request) is decoded
 * once with `decodeUserId` or `decodeCredentialId`, or built with `UserId.make` when it is a
 * known constant.
 *
 * @since 0.1.0
 */
import type { TinkError } from "@tink-effect/core"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { idPattern } from "./internal/credentialReader.js"
import { decode, rule } from "./internal/input.js"

const idSchema = <B extends string>(brand: B) =>
  rule(
    Schema.String.pipe(Schema.filter((s) => idPattern.test(s)), Schema.brand(brand)),
    "must be 1-128 characters of A-Z a-z 0-9 . _ ~ - and not only dots"
  )

/**
 * A Tink user id.
 *
 * @since 0.1.0
 * @category ids
 */
export const UserId = idSchema("UserId")

/**
 * @since 0.1.0
 * @category ids
 */
export type UserId = typeof UserId.Type

/**
 * A credential id.
 *
 * @since 0.1.0
 * @category ids
 */
export const CredentialId = idSchema("CredentialId")

/**
 * @since 0.1.0
 * @category ids
 */
export type CredentialId = typeof CredentialId.Type

/** C0 and C1 control characters, and UTF-16 that is not well formed (a lone surrogate). */
const unsafeText = /[\u0000-\u001f\u007f-\u009f]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * Text that only travels in a body (JSON or form): 1 to `maxLength` characters with no control
 * character and no lone surrogate (a form body would silently turn one into U+FFFD). Tink sets no
 * character rule of its own for these, so neither do we.
 *
 * @since 0.2.0
 * @category validation
 */
export const BodyText = (maxLength: number) =>
  rule(
    Schema.String.pipe(Schema.filter((s) => s.length > 0 && s.length <= maxLength && !unsafeText.test(s))),
    `must be 1-${maxLength} characters without control characters`
  )

/**
 * The app's own id for a user, as given at creation. It only travels in bodies, and Tink's User
 * model gives it no character set: any text of 1-256 characters without control characters.
 *
 * @since 0.1.0
 * @category ids
 */
export const ExternalUserId = rule(
  BodyText(256).pipe(Schema.brand("ExternalUserId")),
  "must be 1-256 characters without control characters"
)

/**
 * @since 0.1.0
 * @category ids
 */
export type ExternalUserId = typeof ExternalUserId.Type

/**
 * A user id from outside Tink's answers (a database row, a request), checked once: a malformed
 * one is a `TinkValidationError` that names the rule, not the value.
 *
 * @since 0.2.0
 * @category decoding
 */
export const decodeUserId: (input: unknown) => Effect.Effect<UserId, TinkError.TinkValidationError> = decode(
  UserId,
  { method: "-", path: "-", field: "userId" }
)

/**
 * A credential id from outside Tink's answers, checked once, as `decodeUserId`.
 *
 * @since 0.2.0
 * @category decoding
 */
export const decodeCredentialId: (input: unknown) => Effect.Effect<CredentialId, TinkError.TinkValidationError> =
  decode(CredentialId, { method: "-", path: "-", field: "credentialId" })
