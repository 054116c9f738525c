import { TinkError } from "@tink-effect/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * Gives a schema the rule its field breaks, whatever part of it failed. The message overrides
 * Effect's default ("Expected …, actual <the value>"), which would echo the input: a hostile,
 * huge or secret value never appears in an error. Every schema an input is decoded with carries
 * one, at each level that can fail.
 *
 * @internal
 */
export const rule = <S extends Schema.Schema.Any>(schema: S, message: string): S =>
  schema.annotations({ message: () => ({ message, override: true }) }) as S

/** Where the input was going: the operation's method and path (a template for path ids). @internal */
export interface Target {
  readonly method: string
  readonly path: string
  /** The name of the whole input in messages, e.g. `options` or `credentialId`. */
  readonly field: string
}

/**
 * Decodes an operation's input before anything is sent. A failure is a `TinkValidationError`
 * naming the field and the rule it breaks (`market must be an ISO 3166-1 alpha-2 code such as
 * SE`), built from the rules above, never from the value. Untyped callers may pass anything: a
 * getter that throws or a revoked proxy is bad input too, never a defect.
 *
 * @internal
 */
export const decode = <A, I>(schema: Schema.Schema<A, I>, target: Target) => {
  const decodeNow = decodeSync(schema, target)
  return (input: unknown): Effect.Effect<A, TinkError.TinkValidationError> => {
    const decoded = decodeNow(input)
    return Either.isRight(decoded) ? Effect.succeed(decoded.right) : Effect.fail(decoded.left)
  }
}

/**
 * `decode`, answered at once: for an operation that checks its input when it is built, so what
 * it returns can be a read `TinkUser.provide` gives its session to directly.
 *
 * @internal
 */
export const decodeSync = <A, I>(schema: Schema.Schema<A, I>, target: Target) => {
  const decodeEither = Schema.decodeUnknownEither(schema, { errors: "first", onExcessProperty: "ignore" })
  return (input: unknown): Either.Either<A, TinkError.TinkValidationError> => {
    let decoded: Either.Either<A, ParseResult.ParseError>
    try {
      decoded = decodeEither(input)
    } catch {
      return invalid(target, `${target.field} could not be read`)
    }
    return Either.isRight(decoded) ? Either.right(decoded.right) : invalid(target, describe(decoded.left, target))
  }
}

const invalid = (target: Target, errorMessage: string) =>
  Either.left(new TinkError.TinkValidationError({ method: target.method, path: target.path, errorMessage }))

const describe = (error: ParseResult.ParseError, target: Target): string => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  if (issue === undefined) return `${target.field} is invalid`
  const field = issue.path.length === 0 ? target.field : issue.path.map(String).join(".")
  return `${field} ${issue._tag === "Missing" ? "is required" : issue.message}`
}
