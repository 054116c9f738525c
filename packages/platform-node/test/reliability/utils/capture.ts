/**
 * Captures what an application would export: every log line (as text and as JSON), every span
 * (name, attributes, events, links, exit), and every metric (name, description, tags, state).
 */
import { Cause, Exit, Logger, type MetricPair, Option, Tracer } from "effect"
import { inspect } from "node:util"

const render = (value: unknown): string => {
  if (typeof value === "string") return value
  try {
    return `${String(value)} ${JSON.stringify(value)} ${inspect(value, { depth: 8 })}`
  } catch {
    return inspect(value, { depth: 8 })
  }
}

export interface Capture {
  readonly logs: Array<string>
  readonly spans: Array<string>
  readonly spanNames: Set<string>
  readonly logger: Logger.Logger<unknown, void>
  readonly tracer: Tracer.Tracer
  /** Spans still open, rendered too (a leak could hide in one that never ended). */
  readonly openSpans: () => ReadonlyArray<string>
}

export const make = (): Capture => {
  const logs: Array<string> = []
  const spans: Array<string> = []
  const spanNames = new Set<string>()
  const open = new Set<RecordingSpan>()

  const logger = Logger.make<unknown, void>((options) => {
    logs.push(Logger.logfmtLogger.log(options))
    logs.push(JSON.stringify(Logger.structuredLogger.log(options)))
    if (!Cause.isEmpty(options.cause)) logs.push(Cause.pretty(options.cause, { renderErrorCause: true }))
    for (const [key, value] of options.annotations) logs.push(`${key}=${render(value)}`)
  })

  class RecordingSpan implements Tracer.Span {
    readonly _tag = "Span"
    readonly spanId = Math.random().toString(16).slice(2)
    readonly traceId: string
    readonly sampled = true
    status: Tracer.SpanStatus
    readonly attributes = new Map<string, unknown>()
    readonly events: Array<string> = []
    links: Array<Tracer.SpanLink>
    constructor(
      readonly name: string,
      readonly parent: Option.Option<Tracer.AnySpan>,
      readonly context: import("effect").Context.Context<never>,
      links: ReadonlyArray<Tracer.SpanLink>,
      startTime: bigint,
      readonly kind: Tracer.SpanKind
    ) {
      this.traceId = Option.match(parent, { onNone: () => "trace", onSome: (span) => span.traceId })
      this.status = { _tag: "Started", startTime }
      this.links = [...links]
      spanNames.add(name)
      open.add(this)
    }
    end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
      this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
      open.delete(this)
      spans.push(this.render())
    }
    attribute(key: string, value: unknown): void {
      this.attributes.set(key, value)
    }
    event(name: string, _startTime: bigint, attributes?: Record<string, unknown>): void {
      this.events.push(`${name} ${render(attributes ?? {})}`)
    }
    addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
      this.links.push(...links)
    }
    render(): string {
      const parts = [this.name, ...this.events]
      for (const [key, value] of this.attributes) parts.push(`${key}=${render(value)}`)
      for (const link of this.links) parts.push(`link ${render(link.attributes)}`)
      if (this.status._tag === "Ended" && Exit.isFailure(this.status.exit)) {
        parts.push(Cause.pretty(this.status.exit.cause, { renderErrorCause: true }))
      }
      return parts.join("\n")
    }
  }

  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) =>
      new RecordingSpan(name, parent, context, links, startTime, kind),
    context: (f) => f()
  })

  return { logs, spans, spanNames, logger, tracer, openSpans: () => Array.from(open, (span) => span.render()) }
}

/** Every metric of the global registry: name, description, tags and state. */
export const metrics = (snapshot: ReadonlyArray<MetricPair.MetricPair.Untyped>): Array<string> =>
  snapshot.map((pair) =>
    [
      pair.metricKey.name,
      Option.getOrElse(pair.metricKey.description, () => ""),
      ...pair.metricKey.tags.map((tag) => `${tag.key}=${tag.value}`),
      render(pair.metricState)
    ].join(" ")
  )

/** An error as every way it may be shown: message, String, JSON, inspect, Cause.pretty. */
export const renderError = (error: unknown): string =>
  [
    (error as Error).message,
    String(error),
    JSON.stringify(error),
    inspect(error, { depth: 10 }),
    Cause.pretty(Cause.fail(error), { renderErrorCause: true })
  ].join("\n")
