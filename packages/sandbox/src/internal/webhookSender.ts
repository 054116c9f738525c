import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import type { Service } from "../Sandbox.js"
import { prefix } from "./control.js"

/**
 * The sandbox's Tink events: after a refresh of a credential settles, and after a control
 * endpoint changes a credential, it POSTs a signed `refresh:finished` event to the registered
 * webhook endpoint, as Tink's Events v2 webhooks do (https://docs.tink.com/resources/api-setup/webhooks, "Message structure"; signature: https://docs.tink.com/resources/api-setup/webhook-signature-validation): the body
 * is `{ context: { userId }, content: { credentialsId, status, credentialsStatus, finished,
 * source }, event }` and the `X-Tink-Signature` header is `t=<unix seconds>,v1=<hex>`,
 * v1 being HMAC-SHA256(secret, `<t>.<raw body>`). One attempt per event: the receiver under test
 * answers or the event is lost (Tink retries; the sandbox keeps it simple). Signing uses
 * WebCrypto, so the package needs nothing of Node's beyond the server module.
 */

/** @internal Where events go, and the secret they are signed with. */
export interface Endpoint {
  readonly url: string
  readonly secret: string
}

/** @internal The control path that registers (PUT) or removes (DELETE) the endpoint. */
export const controlPath = `${prefix}/webhook-endpoint`

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** @internal `t=<seconds>,v1=<hex>` for `body` at `seconds`, per Tink's webhook-signature scheme. */
export const signature = (secret: string, seconds: number, body: string): Effect.Effect<string> =>
  Effect.promise(async () => {
    const key = await crypto.subtle.importKey(
      "raw",
      encoder.encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"]
    )
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(`${seconds}.${body}`)))
    let hex = ""
    for (const byte of mac) hex += byte.toString(16).padStart(2, "0")
    return `t=${seconds},v1=${hex}`
  })

const REFRESH = /^\/api\/v1\/credentials\/([^/]+)\/refresh$/

const jsonOf = (response: HttpServerResponse.HttpServerResponse): unknown => {
  if (response.body._tag !== "Uint8Array") return undefined
  try {
    return JSON.parse(decoder.decode(response.body.body))
  } catch {
    return undefined
  }
}

interface CredentialJson {
  readonly id: string
  readonly userId: string
  readonly status: string
}

const isCredential = (value: unknown): value is CredentialJson =>
  typeof value === "object" && value !== null &&
  typeof (value as CredentialJson).id === "string" &&
  typeof (value as CredentialJson).userId === "string" &&
  typeof (value as CredentialJson).status === "string"

/**
 * @internal
 * Wraps the served app: answers the registration endpoint, and after a refresh or a credential
 * change sends the event. Events are sent from fibers of the layer's scope, so closing the
 * server stops them.
 */
export const make = (options: {
  readonly refreshStepMillis: number
  readonly endpoint?: Endpoint | undefined
}): Effect.Effect<(sandbox: Service, app: HttpApp.Default) => HttpApp.Default, never, Scope.Scope> =>
  Effect.gen(function*() {
    const fibers = yield* FiberSet.make()
    let endpoint = options.endpoint

    // The endpoint is taken when the change happens: a later registration does not receive it.
    const send = (target: Endpoint, credential: CredentialJson): Effect.Effect<void> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const body = JSON.stringify({
          context: { userId: credential.userId },
          // The fields of "Event: Refresh finished" (contract/tink/webhooks/webhooks.json): the
          // deprecated `status` is still marked required there, and `source` takes its
          // documented values; `detailedError` is optional and only describes a failure.
          content: {
            credentialsId: credential.id,
            status: credential.status,
            credentialsStatus: credential.status,
            finished: now,
            source: "OPERATION_SOURCE_API"
          },
          event: "refresh:finished"
        })
        const header = yield* signature(target.secret, Math.floor(now / 1000), body)
        yield* Effect.tryPromise(() =>
          fetch(target.url, {
            method: "POST",
            headers: { "content-type": "application/json", "x-tink-signature": header },
            body
          }).then((response) => response.arrayBuffer())
        ).pipe(Effect.ignore)
      })

    /** The credential as its user reads it (a read through the sandbox's own API, recorded like any other). */
    const readAs = (sandbox: Service, authorization: string, credentialId: string) =>
      Effect.map(
        Effect.provideService(
          sandbox.app,
          HttpServerRequest.HttpServerRequest,
          HttpServerRequest.fromWeb(
            new Request(`http://sandbox.invalid/api/v1/credentials/${encodeURIComponent(credentialId)}`, {
              headers: { authorization }
            })
          )
        ),
        jsonOf
      )

    const afterRefresh = (target: Endpoint, sandbox: Service, authorization: string, credentialId: string) =>
      Effect.gen(function*() {
        // A refresh settles after its AUTHENTICATING and UPDATING phases.
        yield* Effect.sleep(options.refreshStepMillis * 2 + 1)
        const credential = yield* readAs(sandbox, authorization, credentialId)
        if (isCredential(credential)) yield* send(target, credential)
      }).pipe(Effect.catchAllCause(() => Effect.void))

    const register = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.gen(function*() {
        if (request.method === "DELETE") {
          endpoint = undefined
          return HttpServerResponse.empty({ status: 204 })
        }
        const input = yield* Effect.orElseSucceed(request.json, () => undefined)
        const url = (input as Partial<Endpoint> | undefined)?.url
        const secret = (input as Partial<Endpoint> | undefined)?.secret
        if (typeof url !== "string" || !URL.canParse(url) || typeof secret !== "string" || secret === "") {
          return HttpServerResponse.unsafeJson({
            errorCode: "BAD_REQUEST",
            errorMessage: "Expected { url, secret }: an absolute URL and a non-empty secret"
          }, { status: 400 })
        }
        endpoint = { url, secret }
        return HttpServerResponse.empty({ status: 204 })
      })

    return (sandbox, app) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        const path = request.url.split("?", 1)[0]!
        if (path === controlPath && (request.method === "PUT" || request.method === "DELETE")) {
          return register(request)
        }
        return Effect.tap(app, (response) => {
          const target = endpoint
          if (target === undefined || request.method === "GET" || response.status >= 300) return Effect.void
          const refresh = request.method === "POST" ? REFRESH.exec(path) : null
          if (refresh !== null) {
            const authorization = request.headers["authorization"] ?? ""
            return FiberSet.run(fibers, afterRefresh(target, sandbox, authorization, decodeURIComponent(refresh[1]!)))
          }
          const changed = jsonOf(response)
          if (path.startsWith(`${prefix}/credentials`) && isCredential(changed)) {
            return FiberSet.run(fibers, send(target, changed))
          }
          return Effect.void
        })
      })
  })
