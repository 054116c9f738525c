/**
 * `npm run bench`: every row of bench/README.md, each against its baseline measured in this
 * same run, printed as one table. Targets are checked here, never in tests.
 */
import * as B1 from "./b1-hit.js"
import * as B2 from "./b2-miss.js"
import * as B3 from "./b3-coalesce.js"
import * as B4 from "./b4-invalidate.js"
import * as B5 from "./b5-redis.js"
import * as B6 from "./b6-memory.js"
import { formatMeasurement as f, type Measurement } from "./harness.js"

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

if (wanted("B1")) {
  const b1 = await B1.run()
  add({
    row: "B1 hit vs Effect.sync Map lookup",
    figure: f(b1.hit),
    baseline: f(b1.mapLookup),
    ratio: `${ratio(b1.hit, b1.mapLookup).toFixed(2)}x`,
    target: "<= 5x",
    met: ratio(b1.hit, b1.mapLookup) <= 5
  })
  add({
    row: "B1 hit vs axios-cache-interceptor hit",
    figure: f(b1.hit),
    baseline: f(b1.axiosHit),
    ratio: `${ratio(b1.axiosHit, b1.hit).toFixed(1)}x faster`,
    target: ">= 10x faster",
    met: ratio(b1.axiosHit, b1.hit) >= 10
  })
}
if (wanted("B2")) {
  const b2 = await B2.run()
  add({
    row: "B2 miss, sequential, vs undici + JSON.parse",
    figure: f(b2.sequential[0]),
    baseline: f(b2.sequential[1]),
    ratio: `${ratio(...b2.sequential).toFixed(2)}x`,
    target: "<= 1.2x",
    met: ratio(...b2.sequential) <= 1.2
  })
  add({
    row: "B2 miss, 32 concurrent, vs undici + JSON.parse",
    figure: f(b2.concurrent[0]),
    baseline: f(b2.concurrent[1]),
    ratio: `${ratio(...b2.concurrent).toFixed(2)}x`,
    target: "<= 1.1x",
    met: ratio(...b2.concurrent) <= 1.1
  })
}
if (wanted("B3")) {
  const b3 = await B3.run()
  const upstream = Array.from(new Set(b3.upstreamPerBatch)).join(", ")
  add({
    row: "B3 1000 identical cold reads vs one read",
    figure: `${f(b3.thousand)}; upstream ${upstream}`,
    baseline: f(b3.one),
    ratio: `${ratio(b3.thousand, b3.one).toFixed(2)}x`,
    target: "1 request; <= 2x",
    met: b3.upstreamPerBatch.every((n) => n === 1) && ratio(b3.thousand, b3.one) <= 2
  })
}
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
if (wanted("B5")) {
  const b5 = await B5.run()
  add({
    row: "B5 Redis hit vs node-redis GET + JSON.parse",
    figure: f(b5.hit),
    baseline: f(b5.get),
    ratio: `${ratio(b5.hit, b5.get).toFixed(2)}x`,
    target: "<= 1.5x",
    met: ratio(b5.hit, b5.get) <= 1.5
  })
  add({
    row: "B5 read with Redis down vs a read without cache",
    figure: f(b5.down[0]),
    baseline: f(b5.down[1]),
    ratio: `${ratio(...b5.down).toFixed(2)}x`,
    target: "report (no error, no wait)",
    met: true
  })
}
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
