/**
 * A scripted Tink for the client's own tests: an `HttpClient` whose answers a test chooses per
 * request, recording what was sent and when (on the TestClock). Everything above the transport
 * (auth, retries, decoding, the cache) is the real client.
 */
import { HttpClient, HttpClientError, HttpClientResponse } from "@effect/platform"
import { ResponseCache, TinkClient } from "@tink-effect/core"
import { Clock, type Duration, Effect, Fiber, Layer, Redacted, TestClock } from "effect"

export interface Sent {
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly form: URLSearchParams
  readonly at: number
}

export type Reply =
  | { readonly status: number; readonly body?: unknown; readonly headers?: Record<string, string> }
  | "refused"
  | "hang"

export const secret = "scripted-client-secret-value"

export const tokenAnswer: Reply = {
  status: 200,
  body: { access_token: "app-token", token_type: "bearer", expires_in: 1800, scope: "user:create" }
}

/**
 * Answers with `answer`, which is told how many requests to the same path came before; a
 * client-credentials token request is answered with an app token unless `answer` handles it.
 */
export const scripted = (answer: (sent: Sent, index: number) => Reply | undefined) => {
  const sent: Array<Sent> = []
  const client = HttpClient.make((request, url) =>
    Effect.gen(function*() {
      const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
      const entry: Sent = {
        method: request.method,
        path: url.pathname,
        headers: request.headers,
        form: new URLSearchParams(body),
        at: yield* Clock.currentTimeMillis
      }
      sent.push(entry)
      const reply = answer(entry, sent.filter((other) => other.path === entry.path).length - 1) ??
        (entry.form.get("grant_type") === "client_credentials" ? tokenAnswer : { status: 404 })
      if (reply === "hang") return yield* Effect.never
      if (reply === "refused") {
        return yield* Effect.fail(
          new HttpClientError.RequestError({ request, reason: "Transport", cause: { code: "ECONNREFUSED" } })
        )
      }
      const text = reply.body === undefined ? "" : JSON.stringify(reply.body)
      return HttpClientResponse.fromWeb(
        request,
        new Response(text, { status: reply.status, headers: { "content-type": "application/json", ...reply.headers } })
      )
    })
  )
  const to = (path: string) => sent.filter((entry) => entry.path === path)
  return { client, sent, to }
}

/** The client over a scripted transport and a memory cache; `options` override the test defaults. */
export const clientLayer = (
  transport: HttpClient.HttpClient,
  options: Partial<TinkClient.Options> = {}
) =>
  TinkClient.layer({
    clientId: "scripted-client",
    clientSecret: Redacted.make(secret),
    baseUrl: "http://tink.test",
    ...options
  }).pipe(
    Layer.provide(Layer.mergeAll(
      Layer.succeed(HttpClient.HttpClient, transport),
      ResponseCache.layerMemory({ capacity: 100 })
    )),
    Layer.orDie
  )

/** Runs an effect that sleeps on the Clock (retries) by moving the TestClock in steps until it ends. */
export const withClock = <A, E, R>(effect: Effect.Effect<A, E, R>, step: Duration.DurationInput = "100 millis") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < 10_000; i++) {
      yield* Effect.yieldNow()
      if ((yield* Fiber.poll(fiber))._tag === "Some") break
      yield* TestClock.adjust(step)
    }
    return yield* Fiber.join(fiber)
  })
