/**
 * The lean undici transport (`NodeTinkHttpClient`) over real sockets: the whole client against
 * the sandbox server (JSON and form bodies, GET/POST/DELETE, 204, errors, a dropped and a cut
 * connection), and the bare `HttpClient` against a plain Node server that records what arrives
 * (bodies, query, keep-alive, interruption closing the socket).
 */
import { HttpClientRequest } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache, TinkClient, TinkError } from "@tink-effect/core"
import { NodeTinkHttpClient } from "@tink-effect/platform-node"
import * as Sandbox from "@tink-effect/sandbox/Sandbox"
import * as SandboxClient from "@tink-effect/sandbox/SandboxClient"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import { Users } from "@tink-effect/users"
import { Deferred, Effect, Exit, Fiber, Layer, Redacted } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/** The whole client over the lean transport, against a sandbox served on a free port. */
const overSandbox = Layer.unwrapEffect(Effect.map(SandboxServer.SandboxServer, (server) =>
  TinkClient.layer({
    clientId: "sandbox-client",
    clientSecret: Redacted.make("sandbox-secret"),
    baseUrl: server.url,
    maxRetries: 0
  }).pipe(
    Layer.provideMerge(Layer.mergeAll(ResponseCache.layerMemory({ capacity: 100 }), NodeTinkHttpClient.layer))
  ))).pipe(Layer.provideMerge(SandboxServer.layer()))

describe("the whole client over NodeTinkHttpClient, against the sandbox server", () => {
  it.live("form and JSON POSTs, a GET, a DELETE answered 204: each reaches the server and answers", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      // The app token (form body with the client secret), then the JSON body of the user.
      const created = yield* Users.createUser({ market: "SE", locale: "sv_SE" })
      assert.isTrue(yield* sandbox.userExists(created.userId))
      const user = yield* SandboxClient.seedUser({ credentials: 2, scopes: ["credentials:read", "credentials:write"] })
      const listed = yield* Users.listCredentials().pipe(Users.asUser(user))
      assert.lengthOf(listed, 2)
      yield* Users.deleteCredential(listed[0]!.id).pipe(Users.asUser(user))
      // The DELETE invalidated the user's list: this read goes to the server again.
      assert.lengthOf(yield* Users.listCredentials().pipe(Users.asUser(user)), 1)
      const requests = yield* sandbox.requests
      const tokenRequest = requests.find((request) => request.path === "/api/v1/oauth/token")
      assert.strictEqual(tokenRequest?.headers["content-type"], "application/x-www-form-urlencoded")
      const createRequest = requests.find((request) => request.path === "/api/v1/user/create")
      assert.strictEqual(createRequest?.headers["content-type"], "application/json")
      const methods = requests.filter((request) => request.path.startsWith("/api/v1/credentials")).map((request) =>
        request.method
      )
      // The list, the ownership read of the DELETE, the DELETE, then the list again.
      assert.deepStrictEqual(methods.slice(-2), ["DELETE", "GET"])
      assert.strictEqual(methods.filter((method) => method === "DELETE").length, 1)
    }).pipe(Effect.provide(overSandbox)))

  it.live("a non-2xx answer is read whole: the error carries Tink's status and message", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* SandboxClient.seedUser()
      yield* sandbox.setFaults([{
        path: "/api/v1/credentials/list",
        fault: { _tag: "Body", status: 404, body: JSON.stringify({ errorMessage: "no such thing", errorCode: "x" }) }
      }])
      const error = yield* Effect.flip(Users.listCredentials().pipe(Users.asUser(user)))
      assert.strictEqual(error._tag, "TinkNotFoundError")
      assert.include(error.message, "no such thing")
    }).pipe(Effect.provide(overSandbox)))

  it.live("a dropped connection and a cut body are transport errors that may have reached Tink", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* SandboxClient.seedUser({ credentials: 1 })
      for (const fault of [{ _tag: "Drop" } as const, { _tag: "Truncated" } as const]) {
        yield* sandbox.setFaults([{ path: "/api/v1/credentials/list", fault }])
        const error = yield* Effect.flip(Users.listCredentials().pipe(Users.asUser(user)))
        assert.strictEqual(error._tag, "TinkNetworkError", fault._tag)
        assert.isTrue((error as TinkError.TinkNetworkError).mayHaveReachedTink, fault._tag)
      }
      // The pool recovers: the next request gets a new connection.
      yield* sandbox.clearFaults
      assert.lengthOf(yield* Users.listCredentials().pipe(Users.asUser(user)), 1)
    }).pipe(Effect.provide(overSandbox)))
})

interface Seen {
  readonly method: string
  readonly url: string
  readonly contentType: string | undefined
  readonly body: string
  readonly socket: number
}

/** A plain Node server that records each request (and which connection it came on). */
const recordingServer = (answer: (request: IncomingMessage, response: ServerResponse, body: string) => void) =>
  Effect.acquireRelease(
    Effect.async<{ url: string; seen: Array<Seen>; connections: () => number }>((resume) => {
      const seen: Array<Seen> = []
      const sockets = new Map<unknown, number>()
      const server = createServer((request, response) => {
        let body = ""
        request.setEncoding("utf8")
        request.on("data", (chunk: string) => body += chunk)
        request.on("end", () => {
          if (!sockets.has(request.socket)) sockets.set(request.socket, sockets.size)
          seen.push({
            method: request.method!,
            url: request.url!,
            contentType: request.headers["content-type"],
            body,
            socket: sockets.get(request.socket)!
          })
          answer(request, response, body)
        })
      })
      server.keepAliveTimeout = 60_000
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          seen,
          connections: () => sockets.size,
          server
        })))
    }),
    (running) =>
      Effect.async<void>((resume) => {
        const server = (running as unknown as { server: ReturnType<typeof createServer> }).server
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

const echo = (request: IncomingMessage, response: ServerResponse, body: string) => {
  if (request.url === "/empty") {
    response.writeHead(204).end()
    return
  }
  const status = request.url === "/fail" ? 503 : 200
  response.writeHead(status, { "content-type": "application/json", "x-request-id": "req-1" })
  response.end(JSON.stringify({ method: request.method, url: request.url, body }))
}

describe("NodeTinkHttpClient as a plain HttpClient", () => {
  it.scoped("GET with a query, POST with JSON and form bodies, DELETE: what is sent and what comes back", () =>
    Effect.gen(function*() {
      const server = yield* recordingServer(echo)
      const http = yield* NodeTinkHttpClient.make()
      const get = yield* http.execute(
        HttpClientRequest.get(`${server.url}/a/b`).pipe(HttpClientRequest.appendUrlParams({ q: "x y", n: "1" }))
      )
      assert.strictEqual(get.status, 200)
      assert.strictEqual(get.headers["x-request-id"], "req-1")
      assert.deepStrictEqual(yield* get.json, { method: "GET", url: "/a/b?q=x+y&n=1", body: "" })
      const json = yield* http.execute(
        HttpClientRequest.post(`${server.url}/json`).pipe(
          HttpClientRequest.bodyUnsafeJson({ name: "Åsa", n: 1 })
        )
      )
      assert.strictEqual((yield* json.json as Effect.Effect<{ body: string }>).body, "{\"name\":\"Åsa\",\"n\":1}")
      yield* http.execute(
        HttpClientRequest.post(`${server.url}/form`).pipe(
          HttpClientRequest.bodyUrlParams({ grant_type: "client_credentials", scope: "a b" })
        )
      )
      const deleted = yield* http.execute(HttpClientRequest.del(`${server.url}/item/1`))
      assert.strictEqual(deleted.status, 200)
      assert.deepStrictEqual(
        server.seen.map(({ body, contentType, method, url }) => [method, url, contentType, body]),
        [
          ["GET", "/a/b?q=x+y&n=1", undefined, ""],
          ["POST", "/json", "application/json", "{\"name\":\"Åsa\",\"n\":1}"],
          ["POST", "/form", "application/x-www-form-urlencoded", "grant_type=client_credentials&scope=a+b"],
          ["DELETE", "/item/1", undefined, ""]
        ]
      )
    }))

  it.scoped("a 204 has an empty body; a 503's body is read like any other", () =>
    Effect.gen(function*() {
      const server = yield* recordingServer(echo)
      const http = yield* NodeTinkHttpClient.make()
      const empty = yield* http.execute(HttpClientRequest.del(`${server.url}/empty`))
      assert.strictEqual(empty.status, 204)
      assert.strictEqual(yield* empty.text, "")
      const failed = yield* http.execute(HttpClientRequest.get(`${server.url}/fail`))
      assert.strictEqual(failed.status, 503)
      assert.deepStrictEqual(yield* failed.json, { method: "GET", url: "/fail", body: "" })
    }))

  it.scoped("sequential requests share one keep-alive connection", () =>
    Effect.gen(function*() {
      const server = yield* recordingServer(echo)
      const http = yield* NodeTinkHttpClient.make()
      for (let i = 0; i < 5; i++) yield* http.execute(HttpClientRequest.get(`${server.url}/n/${i}`))
      assert.strictEqual(server.seen.length, 5)
      assert.strictEqual(server.connections(), 1)
    }))

  it.scoped("a dropped connection is a RequestError of reason Transport", () =>
    Effect.gen(function*() {
      const server = yield* recordingServer((request) => request.socket.destroy())
      const http = yield* NodeTinkHttpClient.make()
      const error = yield* Effect.flip(http.execute(HttpClientRequest.get(`${server.url}/drop`)))
      assert.strictEqual(error._tag, "RequestError")
      assert.strictEqual(error.reason, "Transport")
    }))

  it.scoped("a URL that is not http(s), or malformed, is a RequestError of reason InvalidUrl", () =>
    Effect.gen(function*() {
      const http = yield* NodeTinkHttpClient.make()
      for (const url of ["ftp://127.0.0.1/x", "http://127.0.0.1:99999/x", "http://user:pw@127.0.0.1/x"]) {
        const error = yield* Effect.flip(http.execute(HttpClientRequest.get(url)))
        assert.strictEqual(error._tag, "RequestError", url)
        assert.strictEqual(error.reason, "InvalidUrl", url)
      }
    }))

  it.scoped("interrupting a request aborts it: the server sees its socket closed", () =>
    Effect.gen(function*() {
      const arrived = yield* Deferred.make<void>()
      const closed = yield* Deferred.make<void>()
      const server = yield* recordingServer((request) => {
        // Never answered: only the client's abort ends it.
        request.socket.on("close", () => Deferred.unsafeDone(closed, Exit.void))
        Deferred.unsafeDone(arrived, Exit.void)
      })
      const http = yield* NodeTinkHttpClient.make()
      const fiber = yield* Effect.fork(http.execute(HttpClientRequest.get(`${server.url}/slow`)))
      yield* Deferred.await(arrived)
      yield* Fiber.interrupt(fiber)
      yield* Deferred.await(closed)
      assert.strictEqual(server.seen.length, 1)
    }))

  it.scoped("interrupting a request still queued for a connection never sends it", () =>
    Effect.gen(function*() {
      const arrived = yield* Deferred.make<void>()
      const pending: Array<ServerResponse> = []
      const server = yield* recordingServer((_request, response) => {
        pending.push(response)
        Deferred.unsafeDone(arrived, Exit.void)
      })
      const http = yield* NodeTinkHttpClient.make({ connections: 1 })
      const first = yield* Effect.fork(http.execute(HttpClientRequest.get(`${server.url}/first`)))
      yield* Deferred.await(arrived)
      // Dispatched (queued behind /first on the only connection) before it is interrupted.
      const dispatched = yield* Deferred.make<void>()
      const queued = yield* Effect.fork(
        Deferred.succeed(dispatched, undefined).pipe(
          Effect.zipRight(http.execute(HttpClientRequest.get(`${server.url}/queued`)))
        )
      )
      yield* Deferred.await(dispatched)
      yield* Fiber.interrupt(queued)
      pending[0]!.writeHead(200).end("done")
      const response = yield* Fiber.join(first)
      assert.strictEqual(yield* response.text, "done")
      // The connection carries the next request; the interrupted one was never sent.
      const after = yield* Effect.fork(
        Effect.flatMap(http.execute(HttpClientRequest.get(`${server.url}/after`)), (r) => r.text)
      )
      yield* Effect.yieldNow().pipe(Effect.repeat({ until: () => pending.length === 2 }))
      pending[1]!.writeHead(200).end("after")
      assert.strictEqual(yield* Fiber.join(after), "after")
      assert.deepStrictEqual(server.seen.map((seen) => seen.url), ["/first", "/after"])
    }))
})
