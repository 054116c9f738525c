/**
 * A multi-user HTTP service. Each request carries one of your users' Tink access token and user
 * id, and the handler calls the Users API as that user: `Users.listCredentials()` under
 * `Users.asUser(...)`. The sessions never mix. Reads are cached per user and per token, so a
 * second request with the same token within 30 seconds does not reach Tink.
 *
 *   npx tsx --conditions=source examples/multi-user-service.ts
 *
 * The service starts on a free port in front of the sandbox (served over HTTP). The script then
 * onboards two users, sends their requests with its own HttpClient, prints the answers and exits.
 */
import {
  HttpClient,
  type HttpClientResponse,
  HttpRouter,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { ResponseCache } from "@tink-effect/core"
import { NodeTink } from "@tink-effect/platform-node"
import { Sandbox } from "@tink-effect/sandbox"
import { Ids, Users } from "@tink-effect/users"
import { Console, Effect, Layer, Redacted } from "effect"
import { createServer } from "node:http"

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

/**
 * GET /credentials: the caller's bank credentials. `Authorization: Bearer <user token>` and
 * `X-Tink-User-Id` say who the caller is.
 *
 * Cached entries are kept per token within the user's scope, so a read naming a user id is never
 * served what another token fetched: Tink sees each new token once. The user id chooses whose
 * cache a mutation invalidates, and the library refuses answers whose credentials belong to
 * another user than the one named; still, take the user id from the same place as the token
 * (here: an authenticating gateway in front of the service sets both headers).
 */
const listCredentials = Effect.gen(function*() {
  const { headers } = yield* HttpServerRequest.HttpServerRequest
  const token = /^Bearer (\S+)$/.exec(headers["authorization"] ?? "")?.[1]
  const header = headers["x-tink-user-id"]
  if (token === undefined || header === undefined) {
    return HttpServerResponse.text("Authorization and X-Tink-User-Id required", { status: 401 })
  }
  // An id from outside Tink's answers is decoded once, to the brand the operations take.
  const userId = yield* Ids.decodeUserId(header)
  const credentials = yield* Users.listCredentials().pipe(
    Users.asUser({ userId, accessToken: Redacted.make(token) })
  )
  return HttpServerResponse.unsafeJson({
    userId,
    credentials: credentials.map((credential) => ({ bank: credential.providerName, status: credential.status }))
  })
}).pipe(
  // Every failure is a typed TinkError: map the cases to HTTP answers of our own.
  Effect.catchTags({
    TinkAuthenticationError: () => Effect.succeed(HttpServerResponse.text("Tink refused the token", { status: 401 })),
    TinkValidationError: (error) => Effect.succeed(HttpServerResponse.text(error.message, { status: 400 }))
  }),
  Effect.catchAll((error) => Effect.succeed(HttpServerResponse.text(error.message, { status: 502 })))
)

const router = HttpRouter.empty.pipe(HttpRouter.get("/credentials", listCredentials))

/** The service on a free port of 127.0.0.1; its requirements (the Tink client) stay open. */
const Service = HttpServer.serve(router).pipe(
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
)

/** Tink, here the sandbox over HTTP with its default app. In production: `NodeTink.layerEnv`. */
const TinkSandbox = NodeTink.layerSandbox()

// ---------------------------------------------------------------------------------------------
// The demo: two users, and a few requests to the service
// ---------------------------------------------------------------------------------------------

/** A user who has connected banks (in real life through Tink Link) and granted us a token. */
const onboard = (banks: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const { userId } = yield* Users.createUser({ market: "SE" })
    for (const providerName of banks) yield* sandbox.addCredential(userId, { providerName })
    const grant = yield* Users.createAuthorization({ userId, scope: "credentials:read" })
    const token = yield* Users.getUserAccessToken(grant.code)
    return { userId, accessToken: token.accessToken }
  })

const describeAnswer = (response: HttpClientResponse.HttpClientResponse) =>
  response.status === 200
    ? Effect.map(response.json, (body) => {
      const { credentials } = body as { credentials: ReadonlyArray<{ bank: string; status: string }> }
      return `200, ${credentials.length} credential(s): ${credentials.map((c) => `${c.bank} ${c.status}`).join(", ")}`
    })
    : Effect.map(response.text, (text) => `${response.status}, ${text}`)

const demo = Effect.gen(function*() {
  const sandbox = yield* Sandbox.Sandbox
  const service = yield* HttpServer.addressWith((address) =>
    Effect.succeed(address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "")
  )
  const client = yield* HttpClient.HttpClient
  yield* Console.log("service listening; the sandbox plays Tink")

  const alice = yield* onboard(["se-demobank", "se-otherbank"])
  const bob = yield* onboard(["se-demobank"])
  const ask = (name: string, headers: Record<string, string>) =>
    Effect.gen(function*() {
      const answer = yield* client.get(`${service}/credentials`, { headers }).pipe(Effect.flatMap(describeAnswer))
      const tinkReads = yield* sandbox.requestCount("GET", "/api/v1/credentials/list")
      yield* Console.log(`${name.padEnd(28)} -> ${answer}  (credential lists fetched from Tink so far: ${tinkReads})`)
    })
  const as = (user: { readonly userId: string; readonly accessToken: Redacted.Redacted<string> }) => ({
    authorization: `Bearer ${Redacted.value(user.accessToken)}`,
    "x-tink-user-id": user.userId
  })

  yield* ask("alice", as(alice))
  yield* ask("bob", as(bob))
  yield* ask("alice again (cached)", as(alice))
  yield* ask("bob again (cached)", as(bob))
  yield* ask("carol, with a made-up token", { authorization: "Bearer made-up", "x-tink-user-id": "carol" })
  yield* ask("no headers", {})

  const stats = yield* ResponseCache.stats
  yield* Console.log(`cache: ${stats.hits} hit(s), ${stats.misses} miss(es), ${stats.size} entries`)
})

demo.pipe(
  Effect.provide(Service.pipe(Layer.provideMerge(TinkSandbox), Layer.provideMerge(NodeHttpClient.layerUndici))),
  NodeRuntime.runMain
)
