/**
 * A reader for the common shape of a credential, written out by hand: Effect's schema decoder
 * costs about 15 µs per credential (a union per status and timestamp, a record, a class), which
 * made decoding a three-credential list cost as much as the request. It accepts only what the
 * `Credential` schema certainly accepts and builds exactly what the schema would (the same keys,
 * in the same order); anything else (a numeric string for a timestamp, an own key holding
 * `undefined`, an object that is not plain) is left to the schema, so the rules, and every
 * error, stay the schema's own. `test/credentialReader.test.ts` checks that the two agree.
 *
 * @internal
 */

/** An id Tink may send and we may put in a path (see `Ids`). @internal */
export const idPattern = /^(?!\.+$)[A-Za-z0-9._~-]{1,128}$/

const hasOwn = Object.prototype.hasOwnProperty

/** An object literal's kind of object (`JSON.parse` makes only these). */
export const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== "object" || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** Sentinel: the value is not in a form this reader handles; the schema decides. */
const other: unique symbol = Symbol("other")

/** An optional field that is a string, `null` or absent (as `undefined`). */
const optionalString = (input: Record<string, unknown>, key: string): string | undefined | typeof other => {
  const value = input[key]
  if (typeof value === "string") return value
  if (value === null) return undefined
  if (value === undefined && !hasOwn.call(input, key)) return undefined
  return other
}

/** An optional timestamp sent as a number (strings are the schema's to read). */
const optionalNumber = (input: Record<string, unknown>, key: string): number | undefined | typeof other => {
  const value = input[key]
  if (typeof value === "number") return value
  if (value === null) return undefined
  if (value === undefined && !hasOwn.call(input, key)) return undefined
  return other
}

/** `fields`: an object of strings and nulls (nulls left out), `{}` when null or absent. */
const readFields = (input: Record<string, unknown>): Record<string, string> | typeof other => {
  const value = input.fields
  if (value === null || (value === undefined && !hasOwn.call(input, "fields"))) return {}
  if (!isPlainObject(value) || Object.getOwnPropertySymbols(value).length > 0) return other
  const out: Record<string, string> = {}
  for (const name of Object.keys(value)) {
    const field = value[name]
    if (typeof field === "string") {
      if (name === "__proto__") return other
      out[name] = field
    } else if (field !== null) {
      return other
    }
  }
  return out
}

/**
 * The properties a `Credential` decoded from `input` has, in the schema's order, or `undefined`
 * when `input` is not in the common form (the schema then decodes it, or says why it cannot).
 * Unknown fields are ignored, as the schema ignores them. Internal to the package, though not
 * tagged so: its test imports it, and sees this module through the package's declarations.
 */
export const readCredentialProps = (input: unknown): Record<string, unknown> | undefined => {
  if (!isPlainObject(input)) return undefined
  const id = input.id
  const providerName = input.providerName
  if (typeof id !== "string" || !idPattern.test(id) || typeof providerName !== "string") return undefined
  const type = optionalString(input, "type")
  const status = optionalString(input, "status")
  const statusPayload = optionalString(input, "statusPayload")
  const statusUpdated = optionalNumber(input, "statusUpdated")
  const updated = optionalNumber(input, "updated")
  const fields = readFields(input)
  const userId = optionalString(input, "userId")
  const sessionExpiryDate = optionalNumber(input, "sessionExpiryDate")
  const supplementalInformation = optionalString(input, "supplementalInformation")
  if (
    type === other || status === other || statusPayload === other || statusUpdated === other ||
    updated === other || fields === other || userId === other || sessionExpiryDate === other ||
    supplementalInformation === other || (userId !== undefined && !idPattern.test(userId))
  ) return undefined
  const props: Record<string, unknown> = { id, providerName }
  if (type !== undefined) props.type = type
  if (status !== undefined) props.status = status
  if (statusPayload !== undefined) props.statusPayload = statusPayload
  if (statusUpdated !== undefined) props.statusUpdated = statusUpdated
  if (updated !== undefined) props.updated = updated
  props.fields = fields
  if (userId !== undefined) props.userId = userId
  if (sessionExpiryDate !== undefined) props.sessionExpiryDate = sessionExpiryDate
  if (supplementalInformation !== undefined) props.supplementalInformation = supplementalInformation
  return props
}
