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
    if (error._tag === "TinkAuthenticationError") {
      assert.strictEqual(error.reason, status === 401 ? "invalid-token" : "insufficient-scope")
      assert.isDefined(error.hint)
    } else {
      assert.isUndefined(error.hint, "a data endpoint gets no OAuth hint")
    }
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
      [
        token,
        401,
        undefined,
        "TinkAuthenticationError",
        "app credentials rejected by Tink",
        "app-credentials-rejected"
      ],
      // OAuth lets a server answer invalid_client with 400: still the app's credentials, not the input.
      [
        token,
        400,
        "invalid_client",
        "TinkAuthenticationError",
        "check TINK_CLIENT_ID and TINK_CLIENT_SECRET",
        "app-credentials-rejected"
      ],
      [
        token,
        400,
        "unauthorized_client",
        "TinkAuthenticationError",
        "app credentials rejected",
        "app-credentials-rejected"
      ],
      [token, 400, "invalid_grant", "TinkValidationError", "codes are single-use", undefined],
      [token, 400, "invalid_scope", "TinkValidationError", "the app must be allowed them", undefined],
      [grant, 401, undefined, "TinkAuthenticationError", "grant refused by Tink", "grant-refused"],
      [
        `${grant}/delegate`,
        403,
        "FORBIDDEN",
        "TinkAuthenticationError",
        "grant refused by Tink (FORBIDDEN)",
        "grant-refused"
      ],
      [grant, 404, undefined, "TinkNotFoundError", "user not found by Tink", undefined]
    ] as const
  )("%s %i %s", (path, status, code, tag, hint, reason) => {
    const error = map(path, status, code === undefined ? {} : { errorCode: code })
    assert.strictEqual(error._tag, tag)
    assert.strictEqual(error._tag === "TinkAuthenticationError" ? error.reason : undefined, reason)
    assert.include(error.hint, hint)
    assert.include(error.message, hint, "the hint leads the message")
  })

  it("no hint where the answer says nothing certain", () => {
    assert.isUndefined(map(token, 500).hint)
    assert.isUndefined(map(token, 400, { errorCode: "something_else" }).hint)
    assert.isUndefined(map(grant, 400).hint)
  })

  it("a secret of the request echoed in the answer does not reach the error", () => {
    const secret = "s3cr3t-client-secret-value"
    const body = JSON.stringify({ errorCode: "invalid_client", errorMessage: `bad secret ${secret}` })
    const error = statusError(info(token, [secret]), answer(401, body), body, now)
    assert.notInclude(error.errorMessage, secret.slice(0, 8))
    assert.notInclude(error.message, secret.slice(0, 8))
  })
})

describe("401 and 403 are told apart by reason, without reading status", () => {
  it("401 on a data endpoint: the token is invalid or expired", () => {
    const error = map(data, 401, {
      errorCode: "UNAUTHENTICATED",
      errorMessage: "The access token is invalid or expired"
    })
    assert.strictEqual(error._tag, "TinkAuthenticationError")
    assert.strictEqual(error._tag === "TinkAuthenticationError" && error.reason, "invalid-token")
    assert.strictEqual(
      error.message,
      "Tink authentication failed: access token rejected by Tink (UNAUTHENTICATED): it is invalid or expired, get a new one; " +
        "POST /api/v1/credentials/list, status 401, code UNAUTHENTICATED, \"The access token is invalid or expired\""
    )
  })

  it.each(
    [
      ["OAuth's WWW-Authenticate header", {}, {
        "www-authenticate": "Bearer error=\"insufficient_scope\", scope=\"credentials:read\""
      }, "credentials:read"],
      ["OAuth's header listing two", {}, {
        "www-authenticate": "Bearer error=\"insufficient_scope\", scope=\"credentials:read user:read\""
      }, "credentials:read,user:read"],
      [
        "Tink's message",
        { errorMessage: "The access token lacks the scope credentials:write" },
        {},
        "credentials:write"
      ],
      ["neither", { errorMessage: "Forbidden" }, {}, undefined],
      ["a message not about scopes", { errorMessage: "Forbidden at 12:30" }, {}, undefined]
    ] as const
  )("403: insufficient-scope, naming the scope from %s", (_label, body, headers, scope) => {
    const error = map(data, 403, body, headers)
    if (error._tag !== "TinkAuthenticationError") return assert.fail(error._tag)
    assert.strictEqual(error.reason, "insufficient-scope")
    assert.strictEqual(error.requiredScope, scope)
    assert.include(
      error.message,
      scope === undefined ? "access token lacks a scope this call needs" : `access token lacks the scope ${scope}`
    )
  })

  it("annotating keeps the reason", () => {
    const error = map(token, 401, { errorCode: "invalid_client" })
    const annotated = TinkError.annotate(error, { step: "getting the app token (user:create) for createUser" })
    assert.strictEqual(annotated._tag === "TinkAuthenticationError" && annotated.reason, "app-credentials-rejected")
    assert.include(annotated.message, "while getting the app token (user:create) for createUser")
  })
})

describe("isTinkError", () => {
  it("recognises every case by its type id, not by a look-alike tag", () => {
    const cases = [
      new TinkError.TinkAuthenticationError({ method: "GET", path: "/x", reason: "invalid-token" }),
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
