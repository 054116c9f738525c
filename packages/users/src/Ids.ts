/**
 * Branded, validated identifiers. Tink's ids are opaque; we accept 1-128 characters of
 * `[A-Za-z0-9._~-]` (never only dots), which keeps every id a single, harmless path segment.
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

/**
 * The app's own id for a user, as given at creation.
 *
 * @since 0.1.0
 * @category ids
 */
export const ExternalUserId = idSchema("ExternalUserId")

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
