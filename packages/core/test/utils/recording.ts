import { Effect, Tracer } from "effect"

/** The native tracer, keeping every span it makes: `named` finds them by name, in order. */
export const recording = Effect.map(Effect.tracer, (native) => {
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
