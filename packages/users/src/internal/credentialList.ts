/**
 * The body of `GET /api/v1/credentials/list` decoded straight to its array of credentials (what
 * `Users.listCredentials` returns and caches). A list whose credentials are all in the common
 * form is read by hand (`readCredentialProps`), each credential built as the schema builds it;
 * anything else (an odd credential, a missing or `null` list, another shape) is decoded by the
 * schema, which leaves out and reports what does not decode. The schema's walk of the list cost
 * about as much as reading the credentials themselves. `test/credentialReader.test.ts` checks
 * that the two agree. Internal to the package, though not tagged so: its test imports it, and
 * sees this module through the package's declarations.
 */
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { Credential, CredentialList } from "../Schemas.js"
import { isPlainObject, readCredentialProps } from "./credentialReader.js"

/** The list decoded by its schema alone. */
export const CredentialArrayBySchema = Schema.transform(CredentialList, Schema.Array(Schema.typeSchema(Credential)), {
  strict: true,
  decode: (list) => list.credentials,
  encode: (credentials) => ({ credentials })
})

/** The credentials, when the body and every credential in it are in the common form. */
const readList = (input: unknown): Array<Credential> | undefined => {
  if (!isPlainObject(input)) return undefined
  const elements = input.credentials
  if (!Array.isArray(elements)) return undefined
  const credentials: Array<Credential> = []
  for (const element of elements) {
    let props: Record<string, unknown> | undefined
    try {
      props = readCredentialProps(element)
    } catch {
      // A getter that throws: the schema meets it too, and says what it makes of it.
      return undefined
    }
    if (props === undefined) return undefined
    // What `new Credential(props, true)` builds from props that hold every default already
    // (`fields`, the only one): the properties assigned to an instance, without copying them twice.
    credentials.push(Object.assign(Object.create(Credential.prototype) as Credential, props))
  }
  return credentials
}

/**
 * The list body as its array of credentials; encodes back to the body. Only decoding reads by
 * hand: checking a value of the type side (an array of credentials) is the schema's.
 */
export const CredentialArray = Schema.declare([CredentialArrayBySchema], {
  decode: (bySchema) => (input, options) => {
    const read = bySchema.ast === CredentialArrayBySchema.ast ? readList(input) : undefined
    return read !== undefined ? ParseResult.succeed(read) : ParseResult.decodeUnknown(bySchema)(input, options)
  },
  encode: (bySchema) => (input, options) => ParseResult.encodeUnknown(bySchema)(input, options)
})
