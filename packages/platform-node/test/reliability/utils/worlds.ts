/**
 * The setups the model runs in: N cache instances sharing one store (memory or the real Redis),
 * each with its own TinkClient, talking to one sandbox (in memory, or over real sockets).
 */
import { HttpClient } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ResponseCache as CoreCache, TinkClient, TinkConfig } from "@tink-effect/core"
import { ResponseCache, SandboxServer } from "@tink-effect/platform-node"
import { Sandbox } from "@tink-effect/sandbox"
import { Context, type Duration, Effect, Layer, Redacted, type Scope } from "effect"
import * as Redis from "../../utils/redis.js"
import { Attribution, type Instance, type World } from "./scenario.js"

/** Refreshes never settle during a run: a refreshed credential stays AUTHENTICATING, a second refresh is a 409. */
export const refreshStepMillis = 3_600_000

const config = (baseUrl: string) =>
  TinkConfig.layer({
    clientId: "sandbox-client",
    clientSecret: Redacted.make("sandbox-secret"),
    baseUrl,
    maxRetries: 0
  })

const instance = (
  baseUrl: string,
  cache: Layer.Layer<CoreCache.ResponseCache>,
  http: Layer.Layer<HttpClient.HttpClient>
): Effect.Effect<Instance, never, Scope.Scope> =>
  Layer.build(TinkClient.layer.pipe(Layer.provideMerge(Layer.mergeAll(config(baseUrl), cache, http))))

/**
 * Everything in memory: one sandbox reached without sockets, one memory store shared by the
 * instances. `cache` replaces how an instance's cache is built over the shared store (the
 * meta-test plugs deliberately broken caches in here).
 */
export const memory = (
  instances: number,
  options: {
    readonly cache?: (store: CoreCache.Store) => Effect.Effect<CoreCache.Service, never, Scope.Scope>
  } = {}
): Effect.Effect<World, never, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Sandbox.layerTest({ refreshStepMillis }))
    const sandbox = Context.get(context, Sandbox.Sandbox)
    const attribution = new Attribution()
    const http = Layer.succeed(HttpClient.HttpClient, attribution.wrap(Context.get(context, HttpClient.HttpClient)))
    const store = CoreCache.makeMemoryStore({ capacity: 10_000 })
    const makeCache = options.cache ?? CoreCache.make
    const built: Array<Instance> = []
    for (let i = 0; i < instances; i++) {
      built.push(
        yield* instance("http://sandbox.test", Layer.scoped(CoreCache.ResponseCache, makeCache(store)), http)
      )
    }
    return { sandbox, instances: built, attribution }
  })

/**
 * The sandbox over HTTP; each instance has its own undici client and its own connection to the
 * real Redis, all in one fresh namespace, deleted at the end. Fails (never skips) when Redis is down.
 */
export const redis = (
  instances: number,
  options: { readonly timeout?: Duration.DurationInput } = {}
): Effect.Effect<World & { readonly namespace: string }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const admin = yield* Redis.admin
    const context = yield* Layer.build(SandboxServer.layer({ sandbox: { refreshStepMillis } }))
    const server = Context.get(context, SandboxServer.SandboxServer)
    const sandbox = Context.get(context, Sandbox.Sandbox)
    const namespace = Redis.namespace()
    yield* Effect.addFinalizer(() => dropNamespace(admin, namespace))
    const attribution = new Attribution()
    const built: Array<Instance> = []
    for (let i = 0; i < instances; i++) {
      built.push(
        yield* instance(
          server.url,
          ResponseCache.layerRedis({
            url: Redis.redisUrl,
            namespace,
            // Generous: a store timeout is a legitimate miss (C9), which the oracle would count as a missed hit.
            timeout: options.timeout ?? "2 seconds",
            generationTtl: "2 minutes"
          }),
          Layer.effect(HttpClient.HttpClient, Effect.map(HttpClient.HttpClient, (client) => attribution.wrap(client)))
            .pipe(Layer.provide(NodeHttpClient.layerUndici))
        )
      )
    }
    return { sandbox, instances: built, attribution, namespace }
  })

/** Deletes a test namespace's keys (SCAN + UNLINK on that prefix only; the shared Redis is never flushed). */
export const dropNamespace = (admin: Redis.Admin, namespace: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    let cursor = "0"
    do {
      const reply = (yield* admin.send(["SCAN", cursor, "MATCH", `${namespace}:*`, "COUNT", "1000"])) as [
        string,
        Array<string>
      ]
      cursor = reply[0]
      if (reply[1].length > 0) yield* admin.send(["UNLINK", ...reply[1]])
    } while (cursor !== "0")
  })
