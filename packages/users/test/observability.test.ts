import { assert, describe, it } from "@effect/vitest"
import { TinkMetrics } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import { Users } from "@tink-effect/users"
import { Effect, Metric, Redacted, Tracer } from "effect"
import { as, seedUser, testLayer, withClock } from "./utils.js"

interface Recorded {
  readonly name: string
  readonly attributes: ReadonlyMap<string, unknown>
  readonly parent: string | undefined
}

/** The native tracer, with every span it makes kept for inspection. */
const recordingTracer = Effect.map(Effect.tracer, (native) => {
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const span = native.span(name, parent, context, links, startTime, kind, options)
      spans.push(span)
      return span
    },
    context: native.context
  })
  const recorded = (): ReadonlyArray<Recorded> =>
    spans.map((span) => ({
      name: span.name,
      attributes: span.attributes,
      parent: span.parent._tag === "Some" && span.parent.value._tag === "Span" ? span.parent.value.name : undefined
    }))
  return { tracer, recorded }
})

const counter = (metric: Metric.Metric.Counter<number>) => Effect.map(Metric.value(metric), (state) => state.count)

describe("observability", () => {
  it.effect("spans for operations that reach Tink and for each attempt; metrics for every cache outcome", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(1)
      const credentialId = user.credentials[0].id
      const { tracer, recorded } = yield* recordingTracer
      const before = {
        hits: yield* counter(TinkMetrics.cacheHits),
        misses: yield* counter(TinkMetrics.cacheMisses),
        invalidations: yield* counter(TinkMetrics.cacheInvalidations),
        retries: yield* counter(TinkMetrics.httpRetries)
      }
      yield* sandbox.setFaults([{ method: "DELETE", times: 1, fault: { _tag: "Status", status: 429 } }])
      yield* withClock(
        as(user)(Effect.gen(function*() {
          yield* Users.listCredentials()
          yield* Users.listCredentials()
          yield* Users.deleteCredential(credentialId)
        })).pipe(Effect.withTracer(tracer))
      )
      const spans = recorded()
      const names = spans.map((s) => s.name)
      assert.deepStrictEqual(names.filter((n) => n.startsWith("tink.users.")), [
        "tink.users.listCredentials",
        "tink.users.getCredential",
        "tink.users.deleteCredential"
      ], "the hit opened no span; the delete first reads whose credential it is")
      const list = spans.find((s) => s.name === "tink.users.listCredentials")!
      assert.strictEqual(list.attributes.get("tink.cache.outcome"), "miss")
      assert.match(String(list.attributes.get("tink.scope.hash")), /^[0-9a-f]{16}$/)
      const remove = spans.find((s) => s.name === "tink.users.deleteCredential")!
      assert.strictEqual(remove.attributes.get("tink.cache.outcome"), "invalidated")
      assert.strictEqual(remove.attributes.get("tink.retries"), 1)

      const attempts = spans.filter((s) => s.name === "tink.http")
      assert.deepStrictEqual(
        attempts.map((s) => [s.parent, s.attributes.get("tink.route"), s.attributes.get("http.response.status_code")]),
        [
          ["tink.users.listCredentials", "/api/v1/credentials/list", "200"],
          ["tink.users.getCredential", "/api/v1/credentials/{id}", "200"],
          ["tink.users.deleteCredential", "/api/v1/credentials/{id}", "429"],
          ["tink.users.deleteCredential", "/api/v1/credentials/{id}", "204"]
        ]
      )
      const secrets = [user.userId, credentialId, Redacted.value(user.token)]
      for (const span of spans) {
        for (const value of span.attributes.values()) {
          for (const secret of secrets) assert.notInclude(String(value), secret, `span ${span.name}`)
        }
      }

      assert.strictEqual((yield* counter(TinkMetrics.cacheHits)) - before.hits, 1)
      // The list, and the delete's check of whose credential it is.
      assert.strictEqual((yield* counter(TinkMetrics.cacheMisses)) - before.misses, 2)
      // The user's scope, and the scope every session without a user id depends on.
      assert.strictEqual((yield* counter(TinkMetrics.cacheInvalidations)) - before.invalidations, 2)
      assert.strictEqual((yield* counter(TinkMetrics.httpRetries)) - before.retries, 1)
      const durations = (yield* Metric.snapshot).filter((pair) =>
        pair.metricKey.name === "tink_http_request_duration_ms"
      )
      const routes = durations.flatMap((pair) => pair.metricKey.tags.map((tag) => `${tag.key}=${tag.value}`))
      assert.include(routes, "route=/api/v1/credentials/{id}")
      assert.include(routes, "status=429")
      for (const label of routes) for (const secret of secrets) assert.notInclude(label, secret)
    }).pipe(Effect.provide(testLayer())))
})
