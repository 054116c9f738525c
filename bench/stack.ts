import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ResponseCache, TinkClient, TinkUser } from "@tink-effect/core"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"

/** The whole stack over undici against `baseUrl`, with the given cache. */
export const nodeRuntime = (baseUrl: string, cache: Layer.Layer<ResponseCache.ResponseCache, unknown>) =>
  ManagedRuntime.make(
    TinkClient.layer({ clientId: "bench", clientSecret: Redacted.make("bench-secret"), baseUrl, maxRetries: 0 }).pipe(
      Layer.provideMerge(Layer.mergeAll(cache, NodeHttpClient.layerUndici))
    )
  )

/** `count` user sessions with distinct ids, so each one's first read is a miss. */
export const sessions = (count: number) =>
  Effect.runPromise(
    Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) => TinkUser.make({ userId: `bench-user-${i}`, accessToken: Redacted.make(`token-${i}`) })
    )
  )
