/**
 * The sandbox served over real HTTP on this machine: for integration tests, benchmarks, a demo,
 * and as a local Tink stand-in while developing an app. Import it from
 * `@tink-effect/sandbox/SandboxServer`: it is the one module that needs `@effect/platform-node`
 * (an optional peer dependency), so the package root stays usable without it.
 *
 * @since 0.2.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createServer } from "node:http"
import * as control from "./internal/control.js"
import * as WebhookSender from "./internal/webhookSender.js"
import * as Sandbox from "./Sandbox.js"

/**
 * Where the served sandbox listens, e.g. `http://127.0.0.1:41234`.
 *
 * @since 0.2.0
 * @category tags
 */
export class SandboxServer extends Context.Tag("@tink-effect/sandbox/SandboxServer")<SandboxServer, {
  readonly url: string
  readonly port: number
}>() {}

/**
 * Where to listen. Port 0 (the default) lets the system pick a free port.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  readonly port?: number | undefined
  /** Default 127.0.0.1: the sandbox is a development tool, never exposed beyond the machine. */
  readonly host?: string | undefined
  readonly sandbox?: Sandbox.SandboxOptions | undefined
  /**
   * Serve the control endpoints under `/__sandbox/` (seed users, credentials and tokens, set
   * faults, read counters over HTTP; see the package README). Default true. They are never
   * recorded, counted or faulted.
   */
  readonly control?: boolean | undefined
  /**
   * A webhook endpoint to send Tink events to from the start (see `webhookEndpointPath` to set
   * or remove one later): after a refresh settles and after a control endpoint changes a
   * credential, the sandbox POSTs a `refresh:finished` event signed as Tink signs them. Needs
   * `control` (the default).
   */
  readonly webhook?: { readonly url: string; readonly secret: Redacted.Redacted<string> } | undefined
}

/**
 * The path under which the control endpoints are served.
 *
 * @since 0.2.0
 * @category constants
 */
export const controlPrefix: string = control.prefix

/**
 * The control path that registers the webhook endpoint (`PUT` with `{ "url", "secret" }`) or
 * removes it (`DELETE`).
 *
 * @since 0.2.0
 * @category constants
 */
export const webhookEndpointPath: string = WebhookSender.controlPath

/**
 * Serves a fresh sandbox for the lifetime of the layer. The `Sandbox` service is provided too,
 * so a test can seed data, switch faults on and count requests while clients talk HTTP.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<SandboxServer | Sandbox.Sandbox, never> => {
  const host = options.host ?? "127.0.0.1"
  const serve = Layer.unwrapScoped(
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      if (options.control === false) return HttpServer.serve(sandbox.app)
      const webhooks = yield* WebhookSender.make({
        refreshStepMillis: options.sandbox?.refreshStepMillis ?? 1000,
        endpoint: options.webhook === undefined
          ? undefined
          : { url: options.webhook.url, secret: Redacted.value(options.webhook.secret) }
      })
      return HttpServer.serve(webhooks(sandbox, control.withControl(sandbox)))
    })
  )
  const address = Layer.effect(
    SandboxServer,
    HttpServer.addressWith((address) =>
      Effect.succeed(
        address._tag === "TcpAddress"
          ? { url: `http://${urlHost(host)}:${address.port}`, port: address.port }
          : { url: "", port: 0 }
      )
    )
  )
  return Layer.mergeAll(serve, address).pipe(
    Layer.provide(NodeHttpServer.layer(createServer, { port: options.port ?? 0, host })),
    Layer.provideMerge(Sandbox.layer(options.sandbox)),
    Layer.orDie
  )
}

/** An IPv6 literal goes in brackets inside a URL. */
const urlHost = (host: string): string => host.includes(":") && !host.startsWith("[") ? `[${host}]` : host
