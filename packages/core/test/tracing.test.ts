import { assert, describe, it } from "@effect/vitest"
import { ResponseCache, TinkClient, TinkUser } from "@tink-effect/core"
import { Effect, Redacted, Schema, Tracer } from "effect"
import { clientLayer, scripted } from "./utils/scripted.js"

/** The native tracer, keeping every span it makes. */
const recording = Effect.map(Effect.tracer, (native) => {
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (...args) => {
      const span = native.span(...args)
      spans.push(span)
      return span
    },
    context: native.context
  })
  const named = (name: string) => spans.filter((span) => span.name === name)
  return { tracer, named }
})

const read = Effect.gen(function*() {
  const client = yield* TinkClient.TinkClient
  const session = yield* TinkUser.make({ userId: "user-1", accessToken: Redacted.make("user-token") })
  return yield* client.get("/api/v1/credentials/list", {
    auth: TinkClient.userAuth(session),
    schema: Schema.Unknown,
    operation: "listCredentials"
  })
})

describe("operation spans are opened by the client, for reads that reach Tink only", () => {
  it.effect("a miss opens one span (joined reads none), a hit none, a read with caching off one marked bypass", () => {
    const tink = scripted(() => ({ status: 200, body: { credentials: [] } }))
    return Effect.gen(function*() {
      const { named, tracer } = yield* recording
      const traced = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.withTracer(effect, tracer)
      yield* traced(Effect.all([read, read, read], { concurrency: "unbounded" }))
      yield* traced(read)
      const afterHits = named("tink.users.listCredentials")
      assert.lengthOf(afterHits, 1, "one miss; two joined it, one hit")
      assert.strictEqual(afterHits[0].attributes.get("tink.cache.outcome"), "miss")
      assert.isString(afterHits[0].attributes.get("tink.scope.hash"))
      assert.notInclude(JSON.stringify(Array.from(afterHits[0].attributes.values())), "user-1")
      yield* traced(ResponseCache.bypass(read))
      const spans = named("tink.users.listCredentials")
      assert.lengthOf(spans, 2)
      assert.strictEqual(spans[1].attributes.get("tink.cache.outcome"), "bypass")
      assert.lengthOf(named("tink.http"), 2, "one attempt per read that reached Tink")
      assert.lengthOf(tink.to("/api/v1/credentials/list"), 2)
    }).pipe(Effect.provide(clientLayer(tink.client)))
  })
})
