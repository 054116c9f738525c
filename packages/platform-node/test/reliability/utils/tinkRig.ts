/**
 * One client instance talking to the sandbox over real sockets through a fault proxy, with
 * counters at both ends: attempts the client made (at its transport) and requests the sandbox
 * received. A seeded user with two credentials and a session.
 */
import { HttpClient } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ResponseCache, TinkClient, TinkConfig, type TinkError } from "@tink-effect/core"
import { SandboxServer } from "@tink-effect/platform-node"
import { Sandbox } from "@tink-effect/sandbox"
import { Users } from "@tink-effect/users"
import { Context, Effect, Layer, Redacted, type Scope } from "effect"
import * as FaultProxy from "./faultProxy.js"

export const list = "/api/v1/credentials/list"
export const create = "/api/v1/user/create"

export type Instance = Context.Context<TinkClient.TinkClient | ResponseCache.ResponseCache>

export interface Rig {
  readonly sandbox: Sandbox.Service
  readonly proxy: FaultProxy.FaultProxy
  readonly instance: Instance
  /** Attempts the client made for `METHOD path` (retries included), whether or not they reached the sandbox. */
  readonly attempts: (method: string, path: string) => number
  readonly resetAttempts: () => void
  readonly userId: string
  readonly credentials: ReadonlyArray<string>
  /** Runs a user operation as the seeded user, through the instance. */
  readonly asUser: <A>(
    effect: Effect.Effect<A, TinkError.TinkError, TinkClient.TinkClient | import("@tink-effect/core").TinkUser.TinkUser>
  ) => Effect.Effect<A, TinkError.TinkError>
  /** Runs an app-level operation through the instance. */
  readonly asApp: <A>(effect: Effect.Effect<A, TinkError.TinkError, TinkClient.TinkClient>) => Effect.Effect<
    A,
    TinkError.TinkError
  >
  readonly stats: Effect.Effect<ResponseCache.Stats>
}

export const make = (
  options: {
    readonly config?: Partial<TinkConfig.Options>
    readonly cache?: Layer.Layer<ResponseCache.ResponseCache>
    /** Wraps the undici client after the attempt counter, e.g. to react to a failed attempt. */
    readonly transport?: (client: HttpClient.HttpClient) => HttpClient.HttpClient
  } = {}
): Effect.Effect<Rig, never, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(SandboxServer.layer())
    const server = Context.get(context, SandboxServer.SandboxServer)
    const sandbox = Context.get(context, Sandbox.Sandbox)
    const proxy = yield* FaultProxy.make({ host: "127.0.0.1", port: server.port })
    const attempts = new Map<string, number>()
    const counted = (client: HttpClient.HttpClient) =>
      HttpClient.tapRequest(client, (request) =>
        Effect.sync(() => {
          const key = `${request.method} ${new URL(request.url).pathname}`
          attempts.set(key, (attempts.get(key) ?? 0) + 1)
        }))
    const instance = yield* Layer.build(
      TinkClient.layer.pipe(
        Layer.provideMerge(
          Layer.mergeAll(
            TinkConfig.layer({
              clientId: "sandbox-client",
              clientSecret: Redacted.make("sandbox-secret"),
              baseUrl: `http://127.0.0.1:${proxy.port}`,
              maxRetries: 2,
              retryBaseDelay: "20 millis",
              maxRetryDelay: "2 seconds",
              requestTimeout: "400 millis",
              ...options.config
            }),
            options.cache ?? ResponseCache.layerMemory({ capacity: 100 }),
            Layer.effect(
              HttpClient.HttpClient,
              Effect.map(HttpClient.HttpClient, (client) => (options.transport ?? ((c) => c))(counted(client)))
            ).pipe(Layer.provide(NodeHttpClient.layerUndici))
          )
        )
      )
    )
    const { userId } = yield* sandbox.createUser({})
    const credentials = [(yield* sandbox.addCredential(userId)).id, (yield* sandbox.addCredential(userId)).id]
    const token = Redacted.make(
      yield* sandbox.issueUserToken(userId, ["credentials:read", "credentials:write", "credentials:refresh"])
    )
    return {
      sandbox,
      proxy,
      instance,
      attempts: (method, path) => attempts.get(`${method} ${path}`) ?? 0,
      resetAttempts: () => attempts.clear(),
      userId,
      credentials,
      asUser: (effect) => Users.asUser(effect, { userId, accessToken: token }).pipe(Effect.provide(instance)),
      asApp: (effect) => Effect.provide(effect, instance),
      stats: Effect.provide(ResponseCache.stats, instance)
    }
  })
