/**
 * tink-effect's spans and metrics exported with @effect/opentelemetry to the console: runs the
 * user lifecycle against the embedded sandbox and prints each `tink.users.*` and `tink.http`
 * span, then the `tink_*` metrics. Swap the console exporters for OTLP ones in production.
 *
 *   npx tsx --conditions=source examples/opentelemetry.ts
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
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

const Tink = Layer.unwrapEffect(
  Effect.map(SandboxServer.SandboxServer, (server) =>
    NodeTink.layer({
      config: { clientId: "sandbox-client", clientSecret: Redacted.make("sandbox-secret"), baseUrl: server.url }
    }))
).pipe(Layer.provideMerge(SandboxServer.layer()))

Lifecycle.run((step) => Effect.log(Lifecycle.formatStep(step))).pipe(
  Effect.provide(Tink),
  Effect.provide(Telemetry),
  NodeRuntime.runMain
)
