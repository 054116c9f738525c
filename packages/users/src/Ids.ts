/**
 * Branded, validated identifiers. Tink's ids are opaque; ids that go into a path (user and
 * credential ids) are 1-128 characters of `[A-Za-z0-9._~-]` (never only dots), which keeps every
 * one a single, harmless path segment. Values that only travel in a body follow Tink's own rules.
 *
 * @since 0.1.0
 */
import { TinkError } from "@tink-effect/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

const idPattern = /^(?!\.+$)[A-Za-z0-9._~-]{1,128}$/

const idSchema = <B extends string>(brand: B) =>
  Schema.String.pipe(
    Schema.filter((s) => idPattern.test(s), {
      message: () => `${brand} must be 1-128 characters of A-Z a-z 0-9 . _ ~ - and not only dots`
    }),
    Schema.brand(brand)
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
 * A value that only travels in a body (JSON or form): 1 to `maxLength` characters with no control
 * character and no lone surrogate (a form body would silently turn one into U+FFFD). Tink sets no
 * character rule of its own for these, so neither do we.
 *
 * @since 0.2.0
 * @category validation
 */
export const isBodyText = (value: unknown, maxLength: number): value is string =>
  typeof value === "string" && value.length > 0 && value.length <= maxLength && !unsafeText.test(value)

/**
 * The app's own id for a user, as given at creation. It only travels in bodies, and Tink's User
 * model gives it no character set: any text of 1-256 characters without control characters.
 *
 * @since 0.1.0
 * @category ids
 */
export const ExternalUserId = Schema.String.pipe(
  Schema.filter((s) => isBodyText(s, 256), {
    message: () => "ExternalUserId must be 1-256 characters without control characters"
  }),
  Schema.brand("ExternalUserId")
)

/**
 * @since 0.1.0
 * @category ids
 */
export type ExternalUserId = typeof ExternalUserId.Type

/**
 * Checks one input before anything is sent; a rejection names the field but does not echo the
 * value, which may be hostile or huge.
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = <A>(
  schema: Schema.Schema<A, string>,
  value: unknown,
  context: { readonly field: string; readonly method: string; readonly path: string }
): Effect.Effect<A, TinkError.TinkValidationError> => {
  const decoded = Schema.decodeUnknownEither(schema)(value)
  return Either.isRight(decoded)
    ? Effect.succeed(decoded.right)
    : Effect.fail(
      new TinkError.TinkValidationError({
        method: context.method,
        path: context.path,
        errorMessage: `invalid ${context.field}`
      })
    )
}
