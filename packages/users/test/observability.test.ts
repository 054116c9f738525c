import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { HttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { SpanKind, SpanStatusCode } from "@opentelemetry/api"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Sandbox } from "@tink-effect/sandbox"
import { Ids, Users } from "@tink-effect/users"
import { Effect, Metric, Redacted } from "effect"
import { as, seedUser, testLayer, withClock } from "./utils.js"

/** Every series of a metric in the snapshot, with its labels as a record. */
const series = (name: string) =>
  Effect.map(Metric.snapshot, (pairs) =>
    pairs.filter((pair) => pair.metricKey.name === name).map((pair) => ({
      labels: Object.fromEntries(pair.metricKey.tags.map((tag) => [tag.key, tag.value])) as Record<string, string>,
      state: pair.metricState as unknown as {
        readonly count: number
        readonly sum?: number
      }
    })))

/** A counter's total over the series whose labels include `labels`. */
const counted = (name: string, labels: Record<string, string>) =>
  Effect.map(
    series(name),
    (all) =>
      all.filter((s) => Object.entries(labels).every(([key, value]) => s.labels[key] === value))
        .reduce((total, s) => total + s.state.count, 0)
  )

const cacheCounters = ["tink_cache_hits_total", "tink_cache_misses_total", "tink_cache_coalesced_total"] as const

const cacheCounts = Effect.all(cacheCounters.map((name) => counted(name, { resource: "credentials" })))

/** Tink answers DELETE after 1.5 s, so the histogram's unit shows. */
const slowDeletes = (client: HttpClient.HttpClient) =>
  HttpClient.transform(
    client,
    (effect, request) => request.method === "DELETE" ? Effect.delay(effect, "1500 millis") : effect
  )

/** Every string an exporter sends for a span: name, attributes, events and status. */
const exportedText = (span: ReadableSpan): Array<string> => [
  span.name,
  span.status.message ?? "",
  ...Object.values(span.attributes).map(String),
  ...span.events.flatMap((event) => [event.name, ...Object.values(event.attributes ?? {}).map(String)])
]

describe("observability", () => {
  it.effect("spans and metrics by OpenTelemetry's HTTP client conventions, with no id anywhere", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(1)
      const credentialId = user.credentials[0].id
      const missingId = "5f1c0ffee5f1c0ffee5f1c0ffee00404"
      const exporter = new InMemorySpanExporter()
      const before = { cache: yield* cacheCounts, retries: yield* counted("tink_http_retries_total", {}) }
      yield* sandbox.setFaults([{ method: "DELETE", times: 1, fault: { _tag: "Status", status: 429 } }])
      const [missing, spans] = yield* withClock(
        as(user)(Effect.gen(function*() {
          yield* Users.listCredentials()
          yield* Users.listCredentials()
          const missing = yield* Effect.flip(Users.getCredential(Ids.CredentialId.make(missingId)))
          yield* Users.deleteCredential(credentialId)
          // Read before the SDK shuts down, which empties the exporter.
          return [missing, exporter.getFinishedSpans().slice()] as const
        })).pipe(Effect.provide(NodeSdk.layer(() => ({ spanProcessor: new SimpleSpanProcessor(exporter) }))))
      )
      assert.strictEqual(missing._tag, "TinkNotFoundError")
      assert.include(missing.message, missingId, "the caller's error keeps the path: only telemetry drops it")

      const byId = new Map(spans.map((span) => [span.spanContext().spanId, span]))
      const parentOf = (span: ReadableSpan) => byId.get(span.parentSpanContext?.spanId ?? "")?.name
      assert.deepStrictEqual(
        spans.filter((s) => s.name.startsWith("tink.users.")).map((s) => s.name).sort(),
        [
          "tink.users.deleteCredential",
          "tink.users.getCredential",
          "tink.users.getCredential",
          "tink.users.listCredentials"
        ],
        "the hit opened no span; the delete first reads whose credential it is"
      )
      const remove = spans.find((s) => s.name === "tink.users.deleteCredential")!
      assert.strictEqual(remove.attributes["tink.cache.outcome"], "invalidated")
      assert.strictEqual(remove.attributes["tink.retries"], 1)
      assert.match(String(remove.attributes["tink.scope.hash"]), /^[0-9a-f]{16}$/)

      // One client span per attempt, named `{method} {url.template}`, in the order they ended.
      const attempts = spans.filter((s) => s.kind === SpanKind.CLIENT)
      assert.deepStrictEqual(
        attempts.map((
          s
        ) => [parentOf(s), s.name, s.attributes["http.response.status_code"], s.attributes["error.type"]]),
        [
          ["tink.users.listCredentials", "GET /api/v1/credentials/list", 200, undefined],
          ["tink.users.getCredential", "GET /api/v1/credentials/{id}", 404, "TinkNotFoundError"],
          ["tink.users.getCredential", "GET /api/v1/credentials/{id}", 200, undefined],
          ["tink.users.deleteCredential", "DELETE /api/v1/credentials/{id}", 429, "TinkRateLimitError"],
          ["tink.users.deleteCredential", "DELETE /api/v1/credentials/{id}", 204, undefined]
        ]
      )
      for (const attempt of attempts) {
        const [method, template] = attempt.name.split(" ")
        assert.strictEqual(attempt.attributes["http.request.method"], method)
        assert.strictEqual(attempt.attributes["url.template"], template)
        assert.strictEqual(attempt.attributes["server.address"], "sandbox.test")
        assert.strictEqual(attempt.attributes["server.port"], 80)
        assert.match(String(attempt.attributes["tink.request_id"]), /^[0-9a-f]{24}$/, "Tink's X-Request-ID")
        assert.isUndefined(attempt.attributes["url.full"], "the full URL would carry the ids")
      }
      assert.strictEqual(attempts[4].attributes["http.request.resend_count"], 1)

      // No id or token in any name, attribute, event (exception events included) or status.
      const secrets = [user.userId, credentialId, missingId, Redacted.value(user.token)]
      for (const span of spans) {
        for (const text of exportedText(span)) {
          for (const secret of secrets) assert.notInclude(text, secret, `span ${span.name}`)
        }
      }

      // A failed span records the error's tag, where and the status, never the path.
      const notFound = attempts[1]
      assert.strictEqual(notFound.status.code, SpanStatusCode.ERROR)
      const exception = notFound.events.find((event) => event.name === "exception")!
      assert.strictEqual(exception.attributes?.["exception.type"], "TinkNotFoundError")
      assert.strictEqual(
        exception.attributes?.["exception.message"],
        "TinkNotFoundError (404) in GET /api/v1/credentials/{id}"
      )
      const failedOperation = spans.find((s) =>
        s.name === "tink.users.getCredential" && s.status.code === SpanStatusCode.ERROR
      )!
      assert.strictEqual(failedOperation.status.message, "TinkNotFoundError (404) in getCredential")

      // Cache counters by resource: the hit, and three reads that went to Tink (the list, the
      // missing credential, and the delete's check of whose credential it is).
      const after = yield* cacheCounts
      assert.deepStrictEqual(after.map((n, i) => n - before.cache[i]), [1, 3, 0])
      assert.strictEqual((yield* counted("tink_http_retries_total", {})) - before.retries, 1)
      for (const name of cacheCounters) {
        for (const s of yield* series(name)) assert.match(s.labels.resource, /^[a-z-]+$/, name)
      }

      // The duration histogram in seconds, labelled by the conventional attributes.
      const durations = yield* series("http.client.request.duration")
      const deletes = durations.filter((s) => s.labels["http.request.method"] === "DELETE")
      assert.deepStrictEqual(
        deletes.map((s) => s.labels).sort((a, b) =>
          a["http.response.status_code"].localeCompare(b["http.response.status_code"])
        ),
        [
          {
            unit: "s",
            "http.request.method": "DELETE",
            "url.template": "/api/v1/credentials/{id}",
            "server.address": "sandbox.test",
            "server.port": "80",
            "http.response.status_code": "204"
          },
          {
            unit: "s",
            "http.request.method": "DELETE",
            "url.template": "/api/v1/credentials/{id}",
            "server.address": "sandbox.test",
            "server.port": "80",
            "http.response.status_code": "429",
            "error.type": "TinkRateLimitError"
          }
        ]
      )
      for (const s of deletes) {
        assert.strictEqual(s.state.count, 1)
        // 1.5 s, give or take the nanosecond rounding of the clock readings (seen: 1.499999999).
        assert.isAtLeast(s.state.sum!, 1.49)
        assert.isBelow(s.state.sum!, 3, "seconds, not milliseconds")
      }
      assert.lengthOf(yield* series("tink_http_request_duration_ms"), 0, "replaced by http.client.request.duration")
      for (const name of [...cacheCounters, "http.client.request.duration"]) {
        for (const s of yield* series(name)) {
          for (const value of Object.values(s.labels)) {
            for (const secret of secrets) assert.notInclude(value, secret, name)
          }
        }
      }
    }).pipe(Effect.provide(testLayer({ transport: slowDeletes }))))
})
