/**
 * The sandbox served over real HTTP on this machine: for integration tests, benchmarks, the
 * `npm start` lifecycle, and as a local Tink stand-in while developing an app.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import { Sandbox } from "@tink-effect/sandbox"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createServer } from "node:http"

/**
 * Where the served sandbox listens, e.g. `http://127.0.0.1:41234`.
 *
 * @since 0.1.0
 * @category tags
 */
export class SandboxServer extends Context.Tag("@tink-effect/platform-node/SandboxServer")<SandboxServer, {
  readonly url: string
  readonly port: number
}>() {}

/**
 * Where to listen. Port 0 (the default) lets the system pick a free port.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly port?: number | undefined
  /** Default 127.0.0.1: the sandbox is a development tool, never exposed beyond the machine. */
  readonly host?: string | undefined
  readonly sandbox?: Sandbox.SandboxOptions | undefined
}

/**
 * Serves a fresh sandbox for the lifetime of the layer. The `Sandbox` service is provided too,
 * so a test can seed data, switch faults on and count requests while clients talk HTTP.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<SandboxServer | Sandbox.Sandbox, never> => {
  const host = options.host ?? "127.0.0.1"
  const serve = Layer.unwrapEffect(
    Effect.map(Sandbox.Sandbox, (sandbox) => HttpServer.serve(sandbox.app))
  )
  const address = Layer.effect(
    SandboxServer,
    HttpServer.addressWith((address) =>
      Effect.succeed(
        address._tag === "TcpAddress"
          ? { url: `http://${host}:${address.port}`, port: address.port }
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
