/**
 * One client instance talking to the sandbox over real sockets through a fault proxy, with
 * counters at both ends: attempts the client made (at its transport) and requests the sandbox
 * received. A seeded user with two credentials and a session.
 */
import { HttpClient } from "@effect/platform"
import { ResponseCache, type TinkClient, type TinkError, type TinkUser } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import { Ids, Users } from "@tink-effect/users"
import { Context, Effect, Layer, Redacted, type Scope } from "effect"
import * as Instance from "../../utils/instance.js"
import * as FaultProxy from "./faultProxy.js"

export const list = "/api/v1/credentials/list"
export const create = "/api/v1/user/create"

export interface Rig {
  readonly sandbox: Sandbox.Service
  readonly proxy: FaultProxy.FaultProxy
  readonly instance: Instance.Instance
  /** Attempts the client made for `METHOD path` (retries included), whether or not they reached the sandbox. */
  readonly attempts: (method: string, path: string) => number
  readonly resetAttempts: () => void
  readonly userId: Ids.UserId
  readonly credentials: ReadonlyArray<Ids.CredentialId>
  /** Runs a user operation as the seeded user, through the instance. */
  readonly asUser: <A>(
    effect: Effect.Effect<A, TinkError.TinkError, TinkClient.TinkClient | TinkUser.TinkUser>
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
    readonly config?: Partial<TinkClient.Options>
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
    const instance = yield* Instance.build({
      baseUrl: `http://127.0.0.1:${proxy.port}`,
      client: {
        maxRetries: 2,
        retryBaseDelay: "20 millis",
        maxRetryDelay: "2 seconds",
        requestTimeout: "400 millis",
        ...options.config
      },
      cache: options.cache ?? ResponseCache.layerMemory({ capacity: 100 }),
      transport: (client) => (options.transport ?? ((c) => c))(counted(client))
    })
    const userId = Ids.UserId.make((yield* sandbox.createUser({})).userId)
    const credentials = [
      Ids.CredentialId.make((yield* sandbox.addCredential(userId)).id),
      Ids.CredentialId.make((yield* sandbox.addCredential(userId)).id)
    ]
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
