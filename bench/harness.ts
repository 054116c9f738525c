/**
 * A small measuring harness: warm up, then take several samples of a batch of iterations and
 * report the median time per operation and the spread (min to max of the samples).
 */
export interface Measurement {
  /** Median nanoseconds per operation over the samples. */
  readonly median: number
  readonly min: number
  readonly max: number
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export const summarize = (perOperation: ReadonlyArray<number>): Measurement => ({
  median: median(perOperation),
  min: Math.min(...perOperation),
  max: Math.max(...perOperation)
})

/** Runs `batch(n)` (which performs n operations) `samples` times after `warmup` batches. */
export const measure = async (
  batch: (n: number) => Promise<void> | void,
  options: { readonly iterations: number; readonly samples?: number; readonly warmup?: number }
): Promise<Measurement> => {
  const samples = options.samples ?? 9
  for (let i = 0; i < (options.warmup ?? 3); i++) await batch(options.iterations)
  const perOperation: Array<number> = []
  for (let i = 0; i < samples; i++) {
    const start = process.hrtime.bigint()
    await batch(options.iterations)
    perOperation.push(Number(process.hrtime.bigint() - start) / options.iterations)
  }
  return summarize(perOperation)
}

/** Interleaves two measurements sample by sample, so machine noise hits both alike. */
export const measurePair = async (
  a: (n: number) => Promise<void> | void,
  b: (n: number) => Promise<void> | void,
  options: { readonly iterations: number; readonly samples?: number; readonly warmup?: number }
): Promise<readonly [Measurement, Measurement]> => {
  const samples = options.samples ?? 9
  for (let i = 0; i < (options.warmup ?? 3); i++) {
    await a(options.iterations)
    await b(options.iterations)
  }
  const resultA: Array<number> = []
  const resultB: Array<number> = []
  for (let i = 0; i < samples; i++) {
    for (const [run, out] of [[a, resultA], [b, resultB]] as const) {
      const start = process.hrtime.bigint()
      await run(options.iterations)
      out.push(Number(process.hrtime.bigint() - start) / options.iterations)
    }
  }
  return [summarize(resultA), summarize(resultB)]
}

export const formatNs = (ns: number): string =>
  ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(1)} µs` : `${ns.toFixed(0)} ns`

export const formatMeasurement = (m: Measurement): string =>
  `${formatNs(m.median)} (${formatNs(m.min)}-${formatNs(m.max)})`
