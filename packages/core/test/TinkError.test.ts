/**
 * Our mapping of Tink's answers to the error cases: the status decides the tag, the body and
 * headers give Tink's fields, `Retry-After` becomes `retryAfter`, and OAuth and grant failures
 * carry a hint in the caller's terms. Tested on the mapping itself, one row per status.
 */
import { HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { TinkError } from "@tink-effect/core"
import { Duration } from "effect"
import { type RequestInfo, statusError } from "../src/internal/response.js"

const now = Date.parse("2025-01-01T00:00:00Z")

const info = (path: string, secrets: ReadonlyArray<string> = []): RequestInfo => ({
  method: "POST",
  path,
  route: path,
  sensitive: false,
  secrets
})

const answer = (status: number, body: unknown = {}, headers: Record<string, string> = {}) =>
  HttpClientResponse.fromWeb(
    HttpClientRequest.post("http://tink.test/x"),
    new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers })
  )

const map = (path: string, status: number, body?: unknown, headers?: Record<string, string>) => {
  const response = answer(status, body, headers)
  return statusError(info(path), response, typeof body === "string" ? body : JSON.stringify(body ?? {}), now)
}

const data = "/api/v1/credentials/list"
const token = "/api/v1/oauth/token"
const grant = "/api/v1/oauth/authorization-grant"

describe("a non-2xx answer maps to its documented error case", () => {
  it.each(
    [
      [400, "TinkValidationError"],
      [422, "TinkValidationError"],
      [401, "TinkAuthenticationError"],
      [403, "TinkAuthenticationError"],
      [404, "TinkNotFoundError"],
      [429, "TinkRateLimitError"],
      [409, "TinkApiError"],
      [418, "TinkApiError"],
      [500, "TinkApiError"],
      [502, "TinkApiError"],
      [503, "TinkApiError"],
      [302, "TinkApiError"]
    ] as const
  )("%i is a %s with the request and Tink's fields", (status, tag) => {
    const error = map(data, status, { errorCode: "some.code", errorMessage: "what went wrong" }, {
      "x-request-id": "req-1"
    })
    assert.strictEqual(error._tag, tag)
    assert.isTrue(TinkError.isTinkError(error))
    assert.deepStrictEqual(
      [error.method, error.path, error.status, error.errorCode, error.errorMessage, error.requestId],
      ["POST", data, status, "some.code", "what went wrong", "req-1"]
    )
    assert.isUndefined(error.hint, "a data endpoint gets no OAuth hint")
  })

  it("OAuth's own field names are read too (error, error_description)", () => {
    const error = map(token, 400, { error: "invalid_grant", error_description: "code expired" })
    assert.strictEqual(error._tag, "TinkValidationError")
    assert.deepStrictEqual([error.errorCode, error.errorMessage], ["invalid_grant", "code expired"])
  })

  it("the request id: X-Request-ID first, then X-Tink-Request-ID, then the body's requestId", () => {
    assert.strictEqual(map(data, 500, {}, { "x-request-id": "a", "x-tink-request-id": "b" }).requestId, "a")
    assert.strictEqual(map(data, 500, { requestId: "c" }, { "x-tink-request-id": "b" }).requestId, "b")
    assert.strictEqual(map(data, 500, { requestId: "c" }).requestId, "c")
    assert.isUndefined(map(data, 500, "<html>bad gateway</html>").requestId)
  })

  it("a body that is not a JSON object leaves Tink's fields empty", () => {
    for (const body of ["<html>bad gateway</html>", "[1,2]", "\"text\"", ""]) {
      const error = map(data, 502, body)
      assert.strictEqual(error._tag, "TinkApiError")
      assert.deepStrictEqual([error.errorCode, error.errorMessage], [undefined, undefined])
    }
  })
})

describe("429: retryAfter is the wait Tink asked for", () => {
  it.each(
    [
      ["seconds", "7", Duration.seconds(7)],
      ["an HTTP date, measured from now", new Date(now + 90_000).toUTCString(), Duration.seconds(90)],
      ["an HTTP date in the past", new Date(now - 90_000).toUTCString(), Duration.zero],
      ["no header", undefined, undefined],
      ["a header that is neither", "soon", undefined]
    ] as const
  )("%s", (_label, header, expected) => {
    const error = map(data, 429, {}, header === undefined ? {} : { "retry-after": header })
    assert.strictEqual(error._tag, "TinkRateLimitError")
    const retryAfter = error._tag === "TinkRateLimitError" ? error.retryAfter : "not a rate limit"
    if (expected === undefined) assert.isUndefined(retryAfter)
    else assert.isTrue(Duration.equals(retryAfter as Duration.Duration, expected), String(retryAfter))
  })
})

describe("OAuth and grant failures carry a hint in the caller's terms", () => {
  it.each(
    [
      [token, 401, undefined, "TinkAuthenticationError", "app credentials rejected by Tink"],
      [token, 400, "invalid_client", "TinkValidationError", "check TINK_CLIENT_ID and TINK_CLIENT_SECRET"],
      [token, 400, "invalid_grant", "TinkValidationError", "codes are single-use"],
      [token, 400, "invalid_scope", "TinkValidationError", "the app must be allowed them"],
      [grant, 401, undefined, "TinkAuthenticationError", "grant refused by Tink"],
      [`${grant}/delegate`, 403, "FORBIDDEN", "TinkAuthenticationError", "grant refused by Tink (FORBIDDEN)"],
      [grant, 404, undefined, "TinkNotFoundError", "user not found by Tink"]
    ] as const
  )("%s %i %s", (path, status, code, tag, hint) => {
    const error = map(path, status, code === undefined ? {} : { errorCode: code })
    assert.strictEqual(error._tag, tag)
    assert.include(error.hint, hint)
    assert.include(error.message, hint, "the hint leads the message")
  })

  it("no hint where the answer says nothing certain", () => {
    assert.isUndefined(map(token, 500).hint)
    assert.isUndefined(map(token, 400, { errorCode: "something_else" }).hint)
    assert.isUndefined(map(grant, 400).hint)
    assert.isUndefined(map(data, 401).hint)
  })

  it("a secret of the request echoed in the answer does not reach the error", () => {
    const secret = "s3cr3t-client-secret-value"
    const body = JSON.stringify({ errorCode: "invalid_client", errorMessage: `bad secret ${secret}` })
    const error = statusError(info(token, [secret]), answer(401, body), body, now)
    assert.notInclude(error.errorMessage, secret.slice(0, 8))
    assert.notInclude(error.message, secret.slice(0, 8))
  })
})

describe("isTinkError", () => {
  it("recognises every case by its type id, not by a look-alike tag", () => {
    const cases = [
      new TinkError.TinkAuthenticationError({ method: "GET", path: "/x" }),
      new TinkError.TinkRateLimitError({ method: "GET", path: "/x" }),
      new TinkError.TinkValidationError({ method: "GET", path: "/x" }),
      new TinkError.TinkNotFoundError({ method: "GET", path: "/x" }),
      new TinkError.TinkApiError({ method: "GET", path: "/x" }),
      new TinkError.TinkNetworkError({ method: "GET", path: "/x", mayHaveReachedTink: true }),
      new TinkError.TinkTimeoutError({ method: "GET", path: "/x" }),
      new TinkError.TinkDecodeError({ method: "GET", path: "/x" })
    ]
    for (const error of cases) assert.isTrue(TinkError.isTinkError(error), error._tag)
    assert.isTrue(TinkError.isTinkError(TinkError.annotate(cases[0]!, { step: "a step" })), "annotated")
    for (const other of [new Error("x"), { _tag: "TinkApiError", method: "GET", path: "/x" }, null, "TinkApiError"]) {
      assert.isFalse(TinkError.isTinkError(other))
    }
  })

  it("builds its message from the context", () => {
    const error = new TinkError.TinkRateLimitError({
      method: "POST",
      path: "/api/v1/user/create",
      status: 429,
      errorCode: "RATE_LIMITED",
      errorMessage: "slow down",
      requestId: "req-1"
    })
    assert.strictEqual(
      error.message,
      "Tink rate limit reached: POST /api/v1/user/create, status 429, code RATE_LIMITED, \"slow down\", request id req-1"
    )
  })
})
