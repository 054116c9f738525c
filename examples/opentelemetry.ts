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
import { Effect, Layer } from "effect"

const Telemetry = NodeSdk.layer(() => ({
  resource: { serviceName: "tink-effect-example" },
  spanProcessor: new SimpleSpanProcessor(new ConsoleSpanExporter()),
  // Exported when the layer shuts down, after the lifecycle.
  metricReader: new PeriodicExportingMetricReader({
    exporter: new ConsoleMetricExporter(),
    exportIntervalMillis: 60_000
  })
}))

// The sandbox served on a free port, and the Node client pointed at it. The sandbox's own server
// spans are off: a server's spans carry full URLs, ids included, and in production Tink is not in
// your traces.
const Tink = NodeTink.layerSandbox().pipe(Layer.locally(HttpMiddleware.currentTracerDisabledWhen, () => true))

Lifecycle.run((step) => Effect.log(Lifecycle.formatStep(step))).pipe(
  Effect.provide(Tink),
  Effect.provide(Telemetry),
  NodeRuntime.runMain
)
