/**
 * Whether a JSON value is a credential as Tink encodes it: the only objects with both a
 * `providerName` and `fields` (providers have `fields` too, but a `name`: they are kept whole).
 */
const isCredential = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) &&
  typeof (value as Record<string, unknown>).providerName === "string" && "fields" in value

const withoutFields = (credential: Record<string, unknown>): Record<string, unknown> => {
  const { fields: _, ...rest } = credential
  return rest
}

/**
 * The schema-encoded value with every credential's `fields` left out: a credential as cached by
 * `getCredential`, or the `credentials` of a list as cached by `listCredentials`. Anything else is
 * returned as is. Read back, such a credential decodes with `fields: {}`.
 *
 * @internal
 */
export const omitCredentialFields = (encoded: unknown): unknown => {
  if (isCredential(encoded)) return withoutFields(encoded)
  if (typeof encoded === "object" && encoded !== null && !Array.isArray(encoded)) {
    const list = (encoded as Record<string, unknown>).credentials
    if (Array.isArray(list) && list.some(isCredential)) {
      return { ...encoded, credentials: list.map((item) => isCredential(item) ? withoutFields(item) : item) }
    }
  }
  return encoded
}
