/**
 * A credential's status streamed to the browser as server-sent events, and Tink's webhooks. The
 * route `GET /credentials/:id/status` follows `Users.watchCredential` and writes each new status
 * as an event (`text/event-stream`, which a browser reads with `new EventSource(url)`); the
 * service ends the stream after a final status, or with an `error` event. Each status the watch
 * sees also invalidates the user's cached reads, so a list read right after agrees with the
 * stream. `POST /webhooks/tink` is `TinkWebhooks.httpApp`: it verifies the events Tink signs and
 * invalidates the user's cache on `refresh:finished`, for changes nobody is watching.
 *
 *   npx tsx --conditions=source examples/credential-status-sse.ts
 *
 * The service starts on a free port in front of the sandbox (served over HTTP), whose refreshes
 * move AUTHENTICATING -> UPDATING -> UPDATED two seconds apart and which sends its signed events
 * to the service. The script then starts a refresh, reads the event stream with its own
 * HttpClient, prints the events, waits for the sandbox's `refresh:finished` event and exits.
 */
import {
  HttpClient,
  HttpClientRequest,
  HttpRouter,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { type ResponseCache, type TinkClient, type TinkUser, TinkWebhooks } from "@tink-effect/core"
import { NodeTink } from "@tink-effect/platform-node"
import * as SandboxClient from "@tink-effect/sandbox/SandboxClient"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import { Ids, Users, type WatchCredential } from "@tink-effect/users"
import { Console, type Context, Effect, Layer, Queue, Redacted, Stream } from "effect"
import { createServer } from "node:http"

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

/** One server-sent event: a name and a line of JSON (the format of the HTML standard). */
const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`

/** What the browser needs of an update: never the token, nor the credential's fields. */
const statusEvent = (update: WatchCredential.CredentialStatusUpdate) =>
  event("status", {
    status: update.status,
    statusUpdated: update.credential.statusUpdated,
    needsUser: update.needsUser,
    final: update.terminal,
    // The fields to ask for, or the bank app's deep links, while the credential waits on the user.
    supplementalInformation: update.supplementalInformation
  })

/** Polls quickly for the demo; the defaults (1 s, growing to 10 s, for 5 minutes) suit a real bank. */
const watchOptions: WatchCredential.WatchCredentialOptions = { interval: "100 millis", maxInterval: "250 millis" }

/**
 * GET /credentials/:id/status. `Authorization: Bearer <user token>` and `X-Tink-User-Id` say who
 * the caller is (here an authenticating gateway sets both; a browser's `EventSource` sends the
 * app's own session cookie instead, from which the service would look them up).
 */
const credentialStatus = Effect.gen(function*() {
  const { headers } = yield* HttpServerRequest.HttpServerRequest
  const token = /^Bearer (\S+)$/.exec(headers["authorization"] ?? "")?.[1]
  const header = headers["x-tink-user-id"]
  if (token === undefined || header === undefined) {
    return HttpServerResponse.text("Authorization and X-Tink-User-Id required", { status: 401 })
  }
  const params = yield* HttpRouter.params
  const userId = yield* Ids.decodeUserId(header)
  const credentialId = yield* Ids.decodeCredentialId(params["id"])
  // The stream runs after the handler returns: it takes the session and the client with it.
  const updates = yield* Effect.contextWith((
    context: Context.Context<TinkClient.TinkClient | TinkUser.TinkUser | ResponseCache.ResponseCache>
  ) => Stream.provideContext(Users.watchCredential(credentialId, watchOptions), context)).pipe(
    Users.asUser({ userId, accessToken: Redacted.make(token) })
  )
  const events = updates.pipe(
    Stream.map(statusEvent),
    // A failure after the answer started is told as an event: the status line was 200 already.
    Stream.catchAll((error) => Stream.make(event("error", { error: error._tag, message: error.message }))),
    Stream.encodeText
  )
  return HttpServerResponse.stream(events, {
    contentType: "text/event-stream",
    headers: { "cache-control": "no-store" }
  })
}).pipe(
  Effect.catchTag("TinkValidationError", (error) => HttpServerResponse.text(error.message, { status: 400 }))
)

/**
 * The secret of the webhook endpoint, as Tink returned it when the endpoint was created (keep it
 * in your secret store, e.g. TINK_WEBHOOK_SECRET); here the one the sandbox is given below.
 */
const webhookSecret = Redacted.make("whsec-credential-status-sse-demo")

/**
 * The routes. `onWebhook` sees each answer of the webhook receiver (only so the demo can wait for
 * the sandbox's event).
 */
const router = (onWebhook: (status: number) => Effect.Effect<unknown>) =>
  Effect.map(TinkWebhooks.make({ secret: webhookSecret }), (webhooks) =>
    HttpRouter.empty.pipe(
      HttpRouter.get("/credentials/:id/status", credentialStatus),
      HttpRouter.post("/webhooks/tink", Effect.tap(webhooks.httpApp, (response) => onWebhook(response.status)))
    ))

/**
 * Tink, here the sandbox over HTTP with its default app, its refresh phases long enough that a
 * busy machine's polls see each one. In production: `NodeTink.layerEnv`.
 */
const TinkSandbox = NodeTink.layerSandbox({ server: { sandbox: { refreshStepMillis: 2000 } } })

// ---------------------------------------------------------------------------------------------
// The demo: a refresh, followed in the browser's place
// ---------------------------------------------------------------------------------------------

const demo = Effect.gen(function*() {
  // The service on a free port of 127.0.0.1, for the demo's scope.
  const webhookAnswers = yield* Queue.unbounded<number>()
  yield* HttpServer.serveEffect(yield* router((status) => webhookAnswers.offer(status)))
  const service = yield* HttpServer.addressWith((address) =>
    Effect.succeed(address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "")
  )
  const client = yield* HttpClient.HttpClient
  yield* Console.log("service listening; the sandbox plays Tink")

  // Where Tink sends events: in production, set in Tink Console or the webhook API.
  const sandbox = yield* SandboxServer.SandboxServer
  const registered = yield* client.execute(
    HttpClientRequest.put(`${sandbox.url}${SandboxServer.webhookEndpointPath}`).pipe(
      HttpClientRequest.bodyUnsafeJson({ url: `${service}/webhooks/tink`, secret: Redacted.value(webhookSecret) })
    )
  )
  if (registered.status !== 204) return yield* Effect.dieMessage(`webhook endpoint refused: ${registered.status}`)

  // A user who connected a bank (in real life through Tink Link) and granted us a token.
  const user = yield* SandboxClient.seedUser({ credentials: 1 })
  const credentialId = user.credentials[0]!.id
  const headers = { authorization: `Bearer ${Redacted.value(user.accessToken)}`, "x-tink-user-id": user.userId }
  const listed = Effect.map(
    Users.listCredentials().pipe(Users.asUser(user)),
    (credentials) => credentials.map((credential) => credential.status).join(", ")
  )

  yield* Console.log(`before the refresh, a list read shows    ${yield* listed}`)
  yield* Users.refreshCredential(credentialId).pipe(Users.asUser(user))
  yield* Console.log(`refresh started, a list read shows       ${yield* listed} (cached for 30 s)`)

  /** Reads a route's event stream the way `EventSource` would, printing each event. */
  const follow = (id: string) =>
    Effect.gen(function*() {
      const response = yield* client.get(`${service}/credentials/${id}/status`, { headers })
      yield* Console.log(`GET /credentials/{id}/status -> ${response.status}, ${response.headers["content-type"]}`)
      yield* response.stream.pipe(
        Stream.decodeText(),
        Stream.splitLines,
        Stream.filter((line) => line.length > 0),
        Stream.grouped(2),
        Stream.runForEach((chunk) => {
          const [name, data] = [...chunk].map((line) => line.slice(line.indexOf(":") + 2))
          const body = JSON.parse(data!) as { status?: string; final?: boolean; error?: string }
          const shown = name === "status" ? `${body.status}${body.final ? " (final)" : ""}` : body.error
          return Console.log(`  event: ${name!.padEnd(7)} ${shown}`)
        })
      )
      yield* Console.log("the service closed the stream")
    })

  yield* follow(credentialId)
  yield* Console.log(`after the stream, a list read shows      ${yield* listed} (the watch refreshed the cache)`)
  const answer = yield* Queue.take(webhookAnswers).pipe(Effect.timeout("30 seconds"))
  yield* Console.log(`Tink's signed refresh:finished event reached POST /webhooks/tink -> ${answer}`)
  yield* Console.log("an unknown credential:")
  yield* follow("0".repeat(32))
})

demo.pipe(
  Effect.scoped,
  Effect.provide(Layer.mergeAll(
    NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }),
    TinkSandbox,
    NodeHttpClient.layerUndici
  )),
  NodeRuntime.runMain
)
