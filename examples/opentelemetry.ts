/**
 * tink-effect's spans and metrics exported with @effect/opentelemetry to the console: runs the
 * user lifecycle against the embedded sandbox and prints each `tink.users.<op>` span and, under
 * it, one client span per HTTP attempt named by OpenTelemetry's HTTP client conventions
 * (`GET /api/v1/credentials/{id}`, with `http.request.method`, `url.template`, `server.address`,
 * `server.port`, `http.response.status_code`, `error.type` and Tink's `tink.request_id`), then
 * the metrics: `http.client.request.duration` (seconds) and the `tink_cache_*` counters by
 * `resource`. No id appears in any of it. Swap the console exporters for OTLP ones in production.
 *
 *   npx tsx --conditions=source examples/opentelemetry.ts
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import { ConsoleMetricExporter, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { ConsoleSpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Lifecycle } from "@tink-effect/demo"
import { NodeTink } from "@tink-effect/platform-node"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import { Effect, Layer, Redacted } from "effect"

const Telemetry = NodeSdk.layer(() => ({
  resource: { serviceName: "tink-effect-example" },
  spanProcessor: new SimpleSpanProcessor(new ConsoleSpanExporter()),
  // Exported when the layer shuts down, after the lifecycle.
  metricReader: new PeriodicExportingMetricReader({
    exporter: new ConsoleMetricExporter(),
    exportIntervalMillis: 60_000
  })
}))

// The embedded sandbox's own server spans are off: a server's spans carry full URLs, ids
// included, and in production Tink is not in your traces.
const Sandbox = SandboxServer.layer().pipe(Layer.locally(HttpMiddleware.currentTracerDisabledWhen, () => true))

const Tink = Layer.unwrapEffect(
  Effect.map(SandboxServer.SandboxServer, (server) =>
    NodeTink.layer({
      config: { clientId: "sandbox-client", clientSecret: Redacted.make("sandbox-secret"), baseUrl: server.url }
    }))
).pipe(Layer.provideMerge(Sandbox))

Lifecycle.run((step) => Effect.log(Lifecycle.formatStep(step))).pipe(
  Effect.provide(Tink),
  Effect.provide(Telemetry),
  NodeRuntime.runMain
)
