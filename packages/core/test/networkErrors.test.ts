/**
 * Transport failures (issue 13.1): the error names the host and port tried; a failed name lookup
 * or a refused connection is "not sent" (so a mutation may be retried safely); the cause is a real
 * `Error` holding only safe data, never the request. Real sockets through the platform's fetch
 * client for the failures a machine can produce on its own, and constructed causes for the rest.
 */
import { FetchHttpClient, HttpClient, HttpClientError, HttpClientRequest } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache, TinkClient, TinkError } from "@tink-effect/core"
import { Cause, Effect, Layer, Redacted } from "effect"
import { createServer } from "node:net"
import { transportError } from "../src/internal/response.js"
import { clientLayer, secret, withClock } from "./utils/scripted.js"

/** A port that was free a moment ago and is closed now: connecting to it is refused. */
const closedPort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** The client over the platform's fetch (real sockets), without retries so no clock is involved. */
const overFetch = (baseUrl: string) =>
  TinkClient.layer({ clientId: "app", clientSecret: Redacted.make(secret), baseUrl, maxRetries: 0 }).pipe(
    Layer.provide(Layer.mergeAll(FetchHttpClient.layer, ResponseCache.layerMemory({ capacity: 10 }))),
    Layer.orDie
  )

const createUser = Effect.flatMap(
  TinkClient.TinkClient,
  (client) => client.post("/api/v1/user/create", { operation: "createUser", auth: TinkClient.noAuth })
)

const networkError = (error: TinkError.TinkError): TinkError.TinkNetworkError => {
  assert.strictEqual(error._tag, "TinkNetworkError", error.message)
  return error as TinkError.TinkNetworkError
}

describe("over real sockets", () => {
  it.effect("a refused connection names 127.0.0.1 and the port, was not sent, and its cause is an Error", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const error = networkError(yield* Effect.flip(Effect.provide(createUser, overFetch(`http://127.0.0.1:${port}`))))
      assert.isFalse(error.mayHaveReachedTink)
      assert.deepStrictEqual([error.host, error.port], ["127.0.0.1", port])
      assert.strictEqual(
        error.message,
        `Tink unreachable at 127.0.0.1:${port}: connection refused (ECONNREFUSED): check TINK_BASE_URL and ` +
          `that the server is up; POST /api/v1/user/create, request not sent`
      )
      assert.instanceOf(error.cause, Error)
      assert.instanceOf(error.cause, TinkError.TransportCause)
      assert.strictEqual((error.cause as TinkError.TransportCause).code, "ECONNREFUSED")
      const pretty = Cause.pretty(Cause.fail(error), { renderErrorCause: true })
      assert.include(pretty, `[cause]: TransportCause: Transport error: connect ECONNREFUSED 127.0.0.1:${port}`)
      assert.notInclude(pretty, "{\"")
    }))

  it.effect("a host name that does not resolve (.invalid) names it, and was not sent", () =>
    Effect.gen(function*() {
      const error = networkError(yield* Effect.flip(Effect.provide(createUser, overFetch("http://tink.invalid"))))
      assert.isFalse(error.mayHaveReachedTink, "nothing can be sent to a host that has no address")
      assert.deepStrictEqual([error.host, error.port], ["tink.invalid", 80])
      assert.strictEqual(
        error.message,
        "Tink unreachable at tink.invalid:80: host name not found (ENOTFOUND): check the host in TINK_BASE_URL; " +
          "POST /api/v1/user/create, request not sent"
      )
      assert.strictEqual((error.cause as TinkError.TransportCause).code, "ENOTFOUND")
    }))
})

const info = {
  method: "POST",
  path: "/api/v1/user/create",
  route: "/api/v1/user/create",
  sensitive: false,
  secrets: []
}
const request = HttpClientRequest.post("https://api.tink.com/api/v1/user/create").pipe(
  HttpClientRequest.bearerToken("bearer-token-that-must-not-travel")
)
const failed = (cause: unknown, reason: "Transport" | "InvalidUrl" | "Encode" = "Transport") =>
  transportError(info, new HttpClientError.RequestError({ request, reason, cause }))
const system = (code: string, syscall?: string) => Object.assign(new Error("x"), { code, syscall })

describe("which transport failures were certainly not sent", () => {
  it.each(
    [
      ["ECONNREFUSED", system("ECONNREFUSED", "connect"), false],
      ["ENOTFOUND", system("ENOTFOUND", "getaddrinfo"), false],
      ["EAI_AGAIN", system("EAI_AGAIN", "getaddrinfo"), false],
      ["fetch's wrapper around ENOTFOUND", new TypeError("fetch failed", { cause: system("ENOTFOUND") }), false],
      ["undici's connect timeout", system("UND_ERR_CONNECT_TIMEOUT"), false],
      ["EHOSTUNREACH on connect", system("EHOSTUNREACH", "connect"), false],
      ["EHOSTUNREACH on an open socket", system("EHOSTUNREACH", "write"), true],
      ["ETIMEDOUT on an open socket", system("ETIMEDOUT", "read"), true],
      ["ECONNRESET", system("ECONNRESET", "read"), true],
      ["a socket closed by the other side", system("UND_ERR_SOCKET"), true],
      ["no code at all", new Error("something"), true]
    ] as const
  )("%s", (_label, cause, mayHaveReachedTink) => {
    const error = networkError(failed(cause))
    assert.strictEqual(error.mayHaveReachedTink, mayHaveReachedTink)
    assert.deepStrictEqual([error.host, error.port], ["api.tink.com", 443])
    assert.include(error.message, "Tink unreachable at api.tink.com:443")
    assert.include(error.message, mayHaveReachedTink ? "request may have been sent" : "request not sent")
  })

  it("a URL or body that could not be built was never sent", () => {
    assert.isFalse(networkError(failed(undefined, "InvalidUrl")).mayHaveReachedTink)
    assert.isFalse(networkError(failed(undefined, "Encode")).mayHaveReachedTink)
  })

  it("the cause is an Error with the code, never the request or its token", () => {
    const error = networkError(failed(system("EAI_AGAIN", "getaddrinfo")))
    assert.instanceOf(error.cause, Error)
    assert.deepStrictEqual(
      [(error.cause as TinkError.TransportCause).code, (error.cause as TinkError.TransportCause).syscall],
      ["EAI_AGAIN", "getaddrinfo"]
    )
    for (
      const text of [error.message, JSON.stringify(error), Cause.pretty(Cause.fail(error), { renderErrorCause: true })]
    ) {
      assert.notInclude(text, "bearer-token-that-must-not-travel")
    }
    assert.include(error.message, "host name lookup failed for now (EAI_AGAIN)")
  })

  it("a step added on the way out keeps the cause, the address and mayHaveReachedTink", () => {
    const error = networkError(failed(system("ECONNREFUSED", "connect")))
    const annotated = networkError(TinkError.annotate(error, { step: "getting the app token for createUser" }))
    assert.instanceOf(annotated.cause, TinkError.TransportCause)
    assert.deepStrictEqual(
      [annotated.host, annotated.port, annotated.mayHaveReachedTink, annotated.hint],
      [error.host, error.port, false, error.hint]
    )
    assert.include(annotated.message, "; while getting the app token for createUser; ")
  })

  it("a code without a known meaning is still named", () => {
    assert.include(failed(system("ECONNRESET", "read")).message, "ECONNRESET, request may have been sent")
  })
})

describe("a mutation that was not sent is retried; one that may have been is not", () => {
  const attempts = (cause: unknown) => {
    let sent = 0
    const transport = HttpClient.make((request) =>
      Effect.suspend(() => {
        sent++
        return Effect.fail(new HttpClientError.RequestError({ request, reason: "Transport", cause }))
      })
    )
    return withClock(Effect.flip(createUser)).pipe(
      Effect.provide(clientLayer(transport, { maxRetries: 2 })),
      Effect.map((error) => ({ error, sent }))
    )
  }

  it.effect.each(
    [
      ["ENOTFOUND", system("ENOTFOUND", "getaddrinfo"), 3],
      ["EAI_AGAIN", system("EAI_AGAIN", "getaddrinfo"), 3],
      ["ECONNRESET", system("ECONNRESET", "read"), 1]
    ] as const
  )("%s: %i attempt(s)", ([_label, cause, expected]) =>
    Effect.map(attempts(cause), ({ error, sent }) => {
      assert.strictEqual(error._tag, "TinkNetworkError")
      assert.strictEqual(sent, expected)
    }))
})
