import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { FaultRule } from "../Sandbox.js"
import { type ApiFailure, badRequest } from "./failure.js"
import type * as Incoming from "./incoming.js"
import { allScopes } from "./sandbox.js"

/**
 * What the control endpoints accept, as Schemas: JSON in, the sandbox's seeding and fault types
 * out. Unknown fields are refused, so a typo is a 400 rather than a silently ignored option.
 */

const Scopes = Schema.Union(
  Schema.Array(Schema.NonEmptyTrimmedString),
  // Comma-separated, as Tink writes scopes.
  Schema.NonEmptyTrimmedString
)

/** @internal */
export const NewUser = Schema.Struct({
  market: Schema.optional(Schema.String.pipe(Schema.pattern(/^[A-Z]{2}$/))),
  externalUserId: Schema.optional(Schema.NonEmptyString)
}).annotations({ identifier: "a user" })

/** @internal */
export const NewCredential = Schema.Struct({
  userId: Schema.NonEmptyString,
  providerName: Schema.optional(Schema.NonEmptyString),
  status: Schema.optional(Schema.NonEmptyString),
  type: Schema.optional(Schema.NonEmptyString),
  fields: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  statusPayload: Schema.optional(Schema.NullOr(Schema.String)),
  supplementalInformation: Schema.optional(Schema.NullOr(Schema.String))
}).annotations({ identifier: "a credential" })

/** @internal */
export const NewToken = Schema.Struct({
  userId: Schema.NonEmptyString,
  scopes: Schema.optional(Scopes)
}).annotations({ identifier: "a token request" })

const Millis = Schema.Number.pipe(Schema.finite(), Schema.nonNegative())
const HttpStatus = Schema.Int.pipe(Schema.between(100, 599))

const FaultJson = Schema.Union(
  Schema.TaggedStruct("Latency", {
    millis: Millis,
    maxMillis: Schema.optional(Millis),
    finishWhenAbandoned: Schema.optional(Schema.Boolean)
  }),
  Schema.TaggedStruct("Status", {
    status: HttpStatus,
    retryAfter: Schema.optional(Schema.String),
    errorCode: Schema.optional(Schema.String),
    errorMessage: Schema.optional(Schema.String)
  }),
  Schema.TaggedStruct("MalformedJson", {}),
  Schema.TaggedStruct("WrongShape", {}),
  Schema.TaggedStruct("Html", { status: HttpStatus }),
  Schema.TaggedStruct("Drop", { afterProcessing: Schema.optional(Schema.Boolean) }),
  Schema.TaggedStruct("LargeBody", { bytes: Schema.Int.pipe(Schema.nonNegative()) }),
  Schema.TaggedStruct("Truncated", {}),
  Schema.TaggedStruct("Body", {
    body: Schema.String,
    status: Schema.optional(HttpStatus),
    contentType: Schema.optional(Schema.String),
    headers: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
  })
)

const FaultRuleJson = Schema.Struct({
  method: Schema.optional(Schema.NonEmptyTrimmedString),
  /** An exact path. */
  path: Schema.optional(Schema.String),
  /** A regular expression tested on the path: JSON has no RegExp. */
  pathPattern: Schema.optional(Schema.String),
  times: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
  probability: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  fault: FaultJson
})

/** @internal */
export const FaultRules = Schema.Array(FaultRuleJson).annotations({ identifier: "an array of fault rules" })

/** One line per problem, each with its JSON path: a type dump of the whole schema helps no one. */
const describe = (error: ParseResult.ParseError): string => {
  const byPath = new Map<string, string>()
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    const path = issue.path.length === 0 ? "body" : issue.path.map((key) => `[${JSON.stringify(key)}]`).join("")
    // An optional field fails twice (the value, and "not undefined"): the first says it.
    if (!byPath.has(path)) byPath.set(path, issue.message.split("\n")[0]!)
  }
  return Array.from(byPath, ([path, message]) => `${path}: ${message}`).join("; ")
}

/** @internal Parses the body as JSON whatever its content type (curl's `-d` says form-urlencoded), then decodes it. */
export const decodeBody = <A, I>(
  incoming: Incoming.Incoming,
  schema: Schema.Schema<A, I>,
  emptyAs?: unknown
): Effect.Effect<A, ApiFailure> => {
  let json: unknown = emptyAs
  if (incoming.body.trim() !== "" || emptyAs === undefined) {
    try {
      json = JSON.parse(incoming.body)
    } catch {
      return Effect.fail(badRequest("BAD_REQUEST", "The body is not valid JSON"))
    }
  }
  return Schema.decodeUnknown(schema, { onExcessProperty: "error", errors: "all" })(json).pipe(
    Effect.mapError((error) => badRequest("BAD_REQUEST", describe(error)))
  )
}

/** @internal */
export const scopeList = (scopes: typeof Scopes.Type | undefined): ReadonlyArray<string> =>
  scopes === undefined
    ? allScopes
    : typeof scopes === "string"
    ? scopes.split(",").map((scope) => scope.trim()).filter((scope) => scope !== "")
    : scopes

/** @internal */
export const toRule = (rule: typeof FaultRuleJson.Type): Effect.Effect<FaultRule, ApiFailure> => {
  if (rule.path !== undefined && rule.pathPattern !== undefined) {
    return Effect.fail(badRequest("BAD_REQUEST", "Give path or pathPattern, not both"))
  }
  let path: string | RegExp | undefined = rule.path
  if (rule.pathPattern !== undefined) {
    try {
      path = new RegExp(rule.pathPattern)
    } catch {
      return Effect.fail(badRequest("BAD_REQUEST", `pathPattern is not a regular expression: ${rule.pathPattern}`))
    }
  }
  return Effect.succeed({
    method: rule.method,
    path,
    times: rule.times,
    probability: rule.probability,
    fault: rule.fault
  })
}
