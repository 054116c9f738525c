/**
 * `npm run bench`: every row of bench/README.md, each against its baseline measured in this
 * same run, printed as one table. Targets are checked here, never in tests.
 */
import * as B1 from "./b1-hit.js"
import * as B2 from "./b2-miss.js"
import * as B3 from "./b3-coalesce.js"
import * as B4 from "./b4-invalidate.js"
import * as B5 from "./b5-redis.js"
import * as B5e from "./b5e-encrypted.js"
import * as B5n from "./b5n-near.js"
import * as B6 from "./b6-memory.js"
import * as B7 from "./b7-window.js"
import * as B8 from "./b8-scale.js"
import { formatMeasurement as f, formatNs, type Measurement, median } from "./harness.js"

interface Row {
  readonly row: string
  readonly figure: string
  readonly baseline: string
  readonly ratio: string
  readonly target: string
  readonly met: boolean
}

const rows: Array<Row> = []
const ratio = (a: Measurement, b: Measurement) => a.median / b.median
const add = (row: Omit<Row, "met"> & { met: boolean }) => {
  rows.push(row)
  console.error(
    `${row.met ? "ok  " : "MISS"} ${row.row}: ${row.figure} vs ${row.baseline} = ${row.ratio} (target ${row.target})`
  )
}

const started = Date.now()
const only = process.argv.slice(2)
const wanted = (name: string) => only.length === 0 || only.includes(name)

/** Runs one row's measurement; a failure is reported as a failed row, never a crash of the bench. */
const section = async (name: string, body: () => Promise<void>) => {
  if (!wanted(name)) return
  try {
    await body()
  } catch (error) {
    add({ row: `${name} did not complete`, figure: String(error), baseline: "-", ratio: "-", target: "-", met: false })
  }
}

const spread = (values: ReadonlyArray<number>, unit: string) => {
  if (values.length === 0) return "-"
  const sorted = [...values].sort((a, b) => a - b)
  return `${median(sorted).toFixed(2)} ${unit} (${sorted[0]!.toFixed(2)}-${sorted[sorted.length - 1]!.toFixed(2)})`
}

await section("B1", async () => {
  const b1 = await B1.run()
  add({
    row: "B1 hit vs Effect.sync Map lookup",
    figure: f(b1.hit),
    baseline: f(b1.mapLookup),
    ratio: `${ratio(b1.hit, b1.mapLookup).toFixed(2)}x`,
    target: "<= 2.5x",
    met: ratio(b1.hit, b1.mapLookup) <= 2.5
  })
  add({
    row: "B1r per-request hit (asUser with a new session + hit) vs provideService + Effect.sync Map lookup",
    figure: f(b1.perRequest),
    baseline: f(b1.provideLookup),
    ratio: `${ratio(b1.perRequest, b1.provideLookup).toFixed(2)}x`,
    target: "<= 2x",
    met: ratio(b1.perRequest, b1.provideLookup) <= 2
  })
  add({
    row:
      "B1 floor (no library code: one withFiberRuntime with a context read, a FiberRef, the Clock, a counter, a Map get) vs Effect.sync Map lookup",
    figure: f(b1.floor),
    baseline: f(b1.floorLookup),
    ratio: `${ratio(b1.floor, b1.floorLookup).toFixed(2)}x`,
    target: "report (B1's floor on Effect 3)",
    met: true
  })
  add({
    row: "B1 hit vs axios-cache-interceptor hit",
    figure: f(b1.hit),
    baseline: f(b1.axiosHit),
    ratio: `${ratio(b1.axiosHit, b1.hit).toFixed(1)}x faster`,
    target: ">= 10x faster",
    met: ratio(b1.axiosHit, b1.hit) >= 10
  })
})
await section("B2", async () => {
  const b2 = await B2.run()
  const pairRows = (
    name: string,
    pair: B2.Pair,
    sequentialTarget: number | undefined,
    concurrentTarget: number | undefined
  ) => {
    for (
      const [kind, measured, target] of [
        ["sequential", pair.sequential, sequentialTarget],
        ["32 concurrent", pair.concurrent, concurrentTarget]
      ] as const
    ) {
      add({
        row: `B2 miss, ${kind}, ${name}, vs undici + JSON.parse`,
        figure: f(measured[0]),
        baseline: f(measured[1]),
        ratio: `${ratio(...measured).toFixed(2)}x`,
        target: target === undefined ? "report (the platform's transport, for comparison)" : `<= ${target}x`,
        met: target === undefined || ratio(...measured) <= target
      })
    }
  }
  pairRows("lean transport, no tracer installed", b2.lean, 1.8, 2.5)
  pairRows(`lean transport, a tracer installed (${b2.leanTraced.spans} spans recorded)`, b2.leanTraced, 2, 2.5)
  add({
    row:
      "B2 floor (no library code: the fetch in a fiber of its own and awaited, undici dispatch with a deadline timer, JSON.parse, the same schema decode, freeze, a Map) vs undici + JSON.parse, sequential",
    figure: f(b2.floor[0]),
    baseline: f(b2.floor[1]),
    ratio: `${ratio(...b2.floor).toFixed(2)}x`,
    target: "report (a miss's floor on Effect 3)",
    met: true
  })
  add({
    row:
      "B2 floor with a tracer installed (the same, the fetch in an operation span and an attempt span, Effect.withSpan) vs undici + JSON.parse, sequential",
    figure: f(b2.floorTraced[0]),
    baseline: f(b2.floorTraced[1]),
    ratio: `${ratio(...b2.floorTraced).toFixed(2)}x`,
    target: "report (a traced miss's floor on Effect 3)",
    met: true
  })
  pairRows("layerUndici", b2.layerUndici, undefined, undefined)
  add({
    row: "B2 layerUndici alone (HttpClient.get + json, no library code) vs undici + JSON.parse, sequential",
    figure: f(b2.layerUndiciAlone[0]),
    baseline: f(b2.layerUndiciAlone[1]),
    ratio: `${ratio(...b2.layerUndiciAlone).toFixed(2)}x`,
    target: "report (the floor of the layerUndici rows)",
    met: true
  })
})
await section("B3", async () => {
  const b3 = await B3.run()
  const upstream = Array.from(new Set(b3.upstreamPerBatch)).join(", ")
  const sent = median(b3.sentAfterMs)
  add({
    row: "B3 1000 identical cold reads vs the same fan-out awaiting one plain read",
    figure: `${f(b3.thousand)}; upstream ${upstream}; sent to undici ${
      spread(b3.sentAfterMs, "ms")
    } after the first reader, arrived ${spread(b3.arrivedAfterMs, "ms")}`,
    baseline: `${f(b3.baseline)}; arrived ${spread(b3.baselineArrivedAfterMs, "ms")}`,
    ratio: `${ratio(b3.thousand, b3.baseline).toFixed(2)}x`,
    target: "1 request; <= 1.3x; sent <= 1 ms",
    met: b3.upstreamPerBatch.every((n) => n === 1) && ratio(b3.thousand, b3.baseline) <= 1.3 && sent <= 1 &&
      b3.sentAfterMs.length > 0
  })
})
if (wanted("B4")) {
  const b4 = await B4.run()
  for (const [name, pair, scan] of [["memory", b4.memory, b4.memoryScan], ["Redis", b4.redis, b4.redisScan]] as const) {
    add({
      row: `B4 invalidate, ${name}, 100 000 vs 10 entries`,
      figure: f(pair.large),
      baseline: f(pair.small),
      ratio: `${ratio(pair.large, pair.small).toFixed(2)}x`,
      target: "<= 2x",
      met: ratio(pair.large, pair.small) <= 2
    })
    add({
      row: `B4 prefix scan-and-delete, ${name}, 100 000 vs 10`,
      figure: f(scan.large),
      baseline: f(scan.small),
      ratio: `${ratio(scan.large, scan.small).toFixed(0)}x (bump is ${
        ratio(scan.large, pair.large).toFixed(0)
      }x faster)`,
      target: "grows with the data",
      met: ratio(scan.large, scan.small) > 2
    })
  }
}
await section("B5", async () => {
  const b5 = await B5.run()
  add({
    row: "B5 Redis hit vs node-redis GET + JSON.parse",
    figure: `${f(b5.hit)}; upstream ${b5.upstream}`,
    baseline: f(b5.get),
    ratio: `${ratio(b5.hit, b5.get).toFixed(2)}x`,
    target: "<= 1.5x; every read after the first a hit",
    met: ratio(b5.hit, b5.get) <= 1.5 && b5.upstream === 1
  })
  add({
    row: "B5 read with Redis down vs a read without cache",
    figure: f(b5.down[0]),
    baseline: f(b5.down[1]),
    ratio: `${ratio(...b5.down).toFixed(2)}x`,
    target: "report (no error, no wait)",
    met: true
  })
})
await section("B5e", async () => {
  const b5e = await B5e.run()
  add({
    row: "B5e Redis hit with encrypted values vs the same hit in clear",
    figure: `${f(b5e.encrypted)}; upstream ${b5e.upstream}, sealed ${b5e.sealed}`,
    baseline: f(b5e.clear),
    ratio: `${ratio(b5e.encrypted, b5e.clear).toFixed(2)}x`,
    target: "report; values sealed in Redis (checked)",
    met: b5e.sealed
  })
})
if (wanted("B6")) {
  const b6 = await B6.run()
  const earlierPeak = Math.max(...b6.heapSteps.slice(0, -1))
  const last = b6.heapSteps[b6.heapSteps.length - 1]!
  add({
    row: "B6 heap per cached entry (3 credentials)",
    figure: `${Math.round(b6.bytesPerEntry)} bytes`,
    baseline: "-",
    ratio: "-",
    target: "report",
    met: true
  })
  add({
    row: "B6 heap, capacity 100 000, 1 000 000 reads",
    figure: b6.heapSteps.map((mb) => mb.toFixed(0)).join(" / ") + " MB",
    baseline: `peak of the earlier steps ${earlierPeak.toFixed(0)} MB`,
    ratio: `${(last / earlierPeak).toFixed(2)}x`,
    target: "bounded: no growth after the cache is full",
    met: last <= earlierPeak * 1.1
  })
}

// B5n, B7 and the near cache's B6 figure: the Redis store with `nearCache` (issue 12 item 6).
if (wanted("B5n")) {
  const b5n = await B5n.run()
  add({
    row: "B5n repeat Redis-backed hit from the near cache vs memory-store hit",
    figure: `${f(b5n.near)}; upstream ${b5n.upstream}, Redis commands in the loop ${b5n.redisCommandsDuringLoop}`,
    baseline: f(b5n.memory),
    ratio: `${ratio(b5n.near, b5n.memory).toFixed(2)}x`,
    target: "<= 2x",
    met: ratio(b5n.near, b5n.memory) <= 2 && b5n.upstream === 2
  })
  add({
    row: "B6 heap per near-cache entry (3 credentials)",
    figure: `${Math.round(b5n.bytesPerEntry)} bytes`,
    baseline: "-",
    ratio: "-",
    target: "report",
    met: true
  })
}
if (wanted("B7")) {
  const b7 = await B7.run()
  add({
    row:
      `B7 staleness window with the near cache, A's mutation returned to B's near cache dropped (${b7.rounds} rounds)`,
    figure: `median ${formatNs(b7.median)}, p99 ${formatNs(b7.p99)}, max ${formatNs(b7.max)}`,
    baseline: "-",
    ratio: "-",
    target: "median <= 1 ms on loopback; 0 served after the push",
    met: b7.median <= 1e6 && b7.staleAfterPush === 0
  })
}
if (wanted("B8")) {
  const b8 = await B8.run()
  const fmt = (n: number) => n >= 1000 ? `${(n / 1000).toFixed(2)} ms` : `${n.toFixed(0)} µs`
  for (const target of ["redis", "cluster"] as const) {
    for (const mode of ["hit", "miss"] as const) {
      const of = b8.rows.filter((row) => row.target === target && row.mode === mode)
      const scaling = b8.scaling.find((s) => s.target === target && s.mode === mode)!
      add({
        row: `B8 ${mode} throughput on ${
          target === "redis" ? "one Redis" : "Redis Cluster (3+3)"
        }, 1/2/4 processes, 1 % mutations`,
        figure: of.map((row) =>
          `${row.processes}p ${Math.round(row.opsPerSecond)} ops/s (p50 ${fmt(row.p50Us)}, p99 ${fmt(row.p99Us)})`
        ).join("; "),
        baseline: "1 process",
        ratio: `${scaling.ratio.toFixed(2)}x (4p/1p)`,
        target: "report the scaling; 0 stale reads",
        met: of.every((row) => row.stale === 0)
      })
    }
  }
}

console.log("| row | figure (median, min-max) | baseline | ratio | target | met |")
console.log("|---|---|---|---|---|---|")
for (const r of rows) {
  console.log(`| ${r.row} | ${r.figure} | ${r.baseline} | ${r.ratio} | ${r.target} | ${r.met ? "yes" : "**no**"} |`)
}
console.log(
  `\n${rows.filter((r) => r.met).length} of ${rows.length} targets met in ${
    ((Date.now() - started) / 1000).toFixed(0)
  } s`
)
