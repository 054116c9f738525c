import * as Data from "effect/Data"

/**
 * @internal
 * A request Tink would reject. Handlers fail with it and the app renders it as Tink's JSON error
 * body, so no handler builds error responses by hand.
 */
export class ApiFailure extends Data.TaggedError("ApiFailure")<{
  readonly status: number
  readonly errorCode: string
  readonly errorMessage: string
  readonly headers?: Readonly<Record<string, string>> | undefined
}> {}

/** @internal */
export const fail = (status: number, errorCode: string, errorMessage: string): ApiFailure =>
  new ApiFailure({ status, errorCode, errorMessage })

/** @internal */
export const badRequest = (errorCode: string, errorMessage: string): ApiFailure => fail(400, errorCode, errorMessage)

/** @internal */
export const notFound = (errorMessage: string): ApiFailure => fail(404, "NOT_FOUND", errorMessage)
