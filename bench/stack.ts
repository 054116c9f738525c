import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { ResponseCache, TinkClient, TinkUser } from "@tink-effect/core"
import { NodeTinkHttpClient } from "@tink-effect/platform-node"
import { Layer, ManagedRuntime, Redacted } from "effect"

/** The transports B2 compares: the platform's undici client, and our lean one (NodeTink's). */
export const transports = {
  layerUndici: NodeHttpClient.layerUndici,
  lean: NodeTinkHttpClient.layer
} as const satisfies Record<string, Layer.Layer<HttpClient.HttpClient>>

/**
 * The whole stack over undici against `baseUrl`, with the given cache and transport, and the
 * application's tracer when it installs one.
 */
export const nodeRuntime = (
  baseUrl: string,
  cache: Layer.Layer<ResponseCache.ResponseCache, unknown>,
  transport: Layer.Layer<HttpClient.HttpClient> = transports.lean,
  tracer: Layer.Layer<never> = Layer.empty
) =>
  ManagedRuntime.make(
    TinkClient.layer({ clientId: "bench", clientSecret: Redacted.make("bench-secret"), baseUrl, maxRetries: 0 }).pipe(
      Layer.provideMerge(Layer.mergeAll(cache, transport)),
      Layer.merge(tracer)
    )
  )

/**
 * `count` sessions of the fixed list's user, each with its own token: entries are kept per token,
 * so each one's first read is a miss.
 */
export const sessions = async (count: number) =>
  Array.from(
    { length: count },
    (_, i) => TinkUser.makeSync({ userId: "bench-user", accessToken: Redacted.make(`token-${i}`) })
  )
