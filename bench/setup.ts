import { ResponseCache, TinkClient } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import { Layer, Redacted } from "effect"

/** The whole stack over the in-memory sandbox: no sockets, so a hit measures only the library. */
export const inMemoryTink = TinkClient.layer({
  clientId: "sandbox-client",
  clientSecret: Redacted.make("sandbox-secret")
}).pipe(
  Layer.provideMerge(Layer.mergeAll(Sandbox.layerTest(), ResponseCache.layerMemory({ capacity: 100_000 })))
)
