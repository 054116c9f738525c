import { FetchHttpClient, HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Sandbox } from "../src/index.js"
import * as SandboxServer from "../src/SandboxServer.js"

// The sandbox served on a free port of 127.0.0.1 and reached over a real socket (fetch, i.e.
// undici): the control endpoints as another process would use them.

const listPath = "/api/v1/credentials/list"

const served = (options?: SandboxServer.Options) => Layer.merge(SandboxServer.layer(options), FetchHttpClient.layer)

const call = (method: "GET" | "POST" | "PUT" | "DELETE", path: string, options: {
  readonly json?: unknown
  readonly text?: string
  readonly token?: string
} = {}) =>
  Effect.gen(function*() {
    const { url } = yield* SandboxServer.SandboxServer
    let request = HttpClientRequest.make(method)(`${url}${path}`)
    if (options.json !== undefined) request = HttpClientRequest.bodyUnsafeJson(request, options.json)
    if (options.text !== undefined) request = HttpClientRequest.bodyText(request, options.text, "application/json")
    if (options.token !== undefined) request = HttpClientRequest.bearerToken(request, options.token)
    return yield* HttpClient.execute(request)
  })

const json = (response: HttpClientResponse.HttpClientResponse) =>
  Effect.map(response.json, (body) => body as Record<string, any>)

const seedUser = Effect.gen(function*() {
  const user = yield* json(yield* call("POST", "/__sandbox/users", { json: {} }))
  const { accessToken } = yield* json(
    yield* call("POST", "/__sandbox/tokens", { json: { userId: user.userId, scopes: ["credentials:read"] } })
  )
  return { userId: user.userId as string, token: accessToken as string }
})

describe("SandboxServer", () => {
  it.live("listens on 127.0.0.1 by default", () =>
    Effect.gen(function*() {
      const server = yield* SandboxServer.SandboxServer
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.strictEqual(server.url, `http://127.0.0.1:${server.port}`)
    }).pipe(Effect.provide(served())))

  it.live("seeds a user, a credential and a token over HTTP, and the fake Tink serves them", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const created = yield* call("POST", "/__sandbox/users", { json: { market: "GB", externalUserId: "ext-1" } })
      assert.strictEqual(created.status, 201)
      const { userId } = yield* json(created)
      assert.isTrue(yield* sandbox.userExists(userId))

      const credential = yield* call("POST", "/__sandbox/credentials", {
        json: { userId, providerName: "se-demobank", status: "TEMPORARY_ERROR", fields: { username: "alice" } }
      })
      assert.strictEqual(credential.status, 201)
      const seeded = yield* json(credential)
      assert.deepInclude(seeded, { userId, providerName: "se-demobank", status: "TEMPORARY_ERROR" })

      const token = yield* call("POST", "/__sandbox/tokens", {
        json: { userId, scopes: "credentials:read,credentials:write" }
      })
      assert.strictEqual(token.status, 201)
      const issued = yield* json(token)
      assert.deepStrictEqual(issued.scopes, ["credentials:read", "credentials:write"])

      const list = yield* call("GET", listPath, { token: issued.accessToken })
      assert.strictEqual(list.status, 200)
      assert.deepStrictEqual((yield* json(list)).credentials.map((c: { id: string }) => c.id), [seeded.id])
      const viaControl = yield* json(yield* call("GET", `/__sandbox/users/${userId}/credentials`))
      assert.deepStrictEqual(viaControl.map((c: { id: string }) => c.id), [seeded.id])

      // Control requests are not Tink's: only the list reached the fake Tink.
      assert.strictEqual(yield* sandbox.totalRequests, 1)
      const stats = yield* json(yield* call("GET", `/__sandbox/stats?method=GET&path=${listPath}`))
      assert.deepStrictEqual(stats, { totalRequests: 1, usersCreated: 0, faultsInjected: {}, requestCount: 1 })
    }).pipe(Effect.provide(served())))

  it.live("bad control input is a 4xx with Tink's error body and changes nothing", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { userId } = yield* seedUser
      const refused = [
        yield* call("POST", "/__sandbox/users", { json: { market: "Sweden" } }),
        yield* call("POST", "/__sandbox/users", { json: { markt: "SE" } }),
        yield* call("POST", "/__sandbox/users", { text: "{\"market\":" }),
        yield* call("POST", "/__sandbox/credentials", { json: { userId, fields: { pin: 1234 } } }),
        yield* call("POST", "/__sandbox/credentials", { json: { providerName: "se-demobank" } }),
        yield* call("POST", "/__sandbox/tokens", { json: { userId, scopes: [""] } }),
        yield* call("PUT", "/__sandbox/faults", { json: [{ fault: { _tag: "Status", status: 999 } }] }),
        yield* call("PUT", "/__sandbox/faults", { json: [{ pathPattern: "(", fault: { _tag: "Truncated" } }] })
      ]
      const messages: Array<string> = []
      for (const response of refused) {
        assert.strictEqual(response.status, 400)
        const body = yield* json(response)
        assert.strictEqual(body.errorCode, "BAD_REQUEST")
        messages.push(body.errorMessage)
      }
      // Each message names what is wrong, by its JSON path.
      assert.include(messages[0], "[\"market\"]: Expected a string matching the pattern")
      assert.include(messages[1], "[\"markt\"]: is unexpected")
      assert.include(messages[2], "not valid JSON")
      assert.include(messages[3], "[\"fields\"][\"pin\"]: Expected string")
      assert.include(messages[4], "[\"userId\"]: is missing")
      assert.include(messages[6], "[0][\"fault\"][\"status\"]")
      assert.include(messages[7], "pathPattern is not a regular expression")
      const missing = yield* call("POST", "/__sandbox/credentials", { json: { userId: "no-such-user" } })
      assert.strictEqual(missing.status, 404)
      assert.strictEqual((yield* json(missing)).errorCode, "USER_NOT_FOUND")
      assert.strictEqual((yield* call("POST", "/__sandbox/tokens", { json: { userId: "no-such-user" } })).status, 404)
      assert.strictEqual((yield* call("GET", "/__sandbox/users/no-such-user/credentials")).status, 404)
      yield* call("POST", "/__sandbox/users", { json: { externalUserId: "taken" } })
      const duplicate = yield* call("POST", "/__sandbox/users", { json: { externalUserId: "taken" } })
      assert.strictEqual(duplicate.status, 409)

      assert.deepStrictEqual(yield* sandbox.credentials(userId), [])
      assert.strictEqual(yield* sandbox.totalRequests, 0)
      // No fault rule was installed by the refused PUTs: the fake Tink answers normally.
      assert.strictEqual((yield* call("GET", listPath, { token: (yield* seedUser).token })).status, 200)
    }).pipe(Effect.provide(served())))

  it.live("sets and clears faults over HTTP, by exact path or pattern", () =>
    Effect.gen(function*() {
      const { token } = yield* seedUser
      const put = yield* call("PUT", "/__sandbox/faults", {
        json: [
          { method: "get", path: listPath, times: 1, fault: { _tag: "Status", status: 503 } },
          { pathPattern: "^/api/v1/credentials/(?!list$)", fault: { _tag: "Html", status: 502 } }
        ]
      })
      assert.strictEqual(put.status, 204)
      assert.strictEqual((yield* call("GET", listPath, { token })).status, 503)
      assert.strictEqual((yield* call("GET", listPath, { token })).status, 200)
      assert.strictEqual((yield* call("GET", "/api/v1/credentials/abc", { token })).status, 502)
      assert.strictEqual((yield* call("DELETE", "/__sandbox/faults")).status, 204)
      assert.strictEqual((yield* call("GET", "/api/v1/credentials/abc", { token })).status, 404)
      const stats = yield* json(yield* call("GET", "/__sandbox/stats"))
      assert.deepStrictEqual(stats.faultsInjected, { "Status 503": 1, "Html 502": 1 })
      assert.strictEqual((yield* call("DELETE", "/__sandbox/stats")).status, 204)
      assert.strictEqual((yield* json(yield* call("GET", "/__sandbox/stats"))).totalRequests, 0)
    }).pipe(Effect.provide(served())))

  it.live("answers 405 with Allow for a wrong method and 404 for an unknown control path", () =>
    Effect.gen(function*() {
      const wrong = yield* call("GET", "/__sandbox/users")
      assert.strictEqual(wrong.status, 405)
      assert.strictEqual(wrong.headers["allow"], "POST")
      assert.strictEqual((yield* call("POST", "/__sandbox/nothing", { json: {} })).status, 404)
      assert.strictEqual(yield* (yield* Sandbox.Sandbox).totalRequests, 0)
    }).pipe(Effect.provide(served())))

  it.live("with control off, /__sandbox is just an unknown path of the fake Tink", () =>
    Effect.gen(function*() {
      const response = yield* call("POST", "/__sandbox/users", { json: {} })
      assert.strictEqual(response.status, 404)
      assert.strictEqual(yield* (yield* Sandbox.Sandbox).totalRequests, 1)
    }).pipe(Effect.provide(served({ control: false }))))
})
