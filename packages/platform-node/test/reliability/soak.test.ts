/**
 * The soak, small enough for every `npm test`: 2 instances over real sockets sharing the real
 * Redis, 20 users, 1 500 operations from 16 workers, Tink and network faults switched on at random.
 * No stale read, no cross-user read, no defect, no user created twice. The full soak (100 users,
 * 100 000 operations) is `npm run test:soak`; its figures are in RELIABILITY.md.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Net from "node:net"
import * as Engine from "../soak/engine.js"

describe("soak (small)", () => {
  it.live("2 instances, 20 users, 1 500 operations, random faults", () =>
    Effect.gen(function*() {
      const report = yield* Engine.run({
        instances: 2,
        users: 20,
        operations: 1_500,
        concurrency: 16,
        faults: true,
        redisFaults: false,
        seed: Math.floor(Math.random() * 2 ** 31)
      })
      console.log(
        `soak (small): ${report.operations} operations in ${
          report.seconds.toFixed(1)
        } s, ${report.faultsInjected} faults, ` +
          `${report.retries} retries, ${report.checkedReads} reads checked, peak RSS ${report.peakRssMb} MB`
      )
      assert.deepStrictEqual(report.examples, [])
      assert.strictEqual(report.staleReads, 0)
      assert.strictEqual(report.crossUserReads, 0)
      assert.strictEqual(report.defects, 0)
      assert.strictEqual(report.duplicateUsers, 0)
      assert.strictEqual(report.operations, 1_500)
      assert.isAbove(report.checkedReads, 400)
    }), 60_000)
})

/*
 * Nothing is left behind: after a faulted workload (2 instances, Redis cache, sandbox server,
 * proxies, resets, refusals, retries) closes, the process holds no more sockets, servers or timers
 * than before it started. A leaked connection, an undici pool, a Redis reconnect loop or a retry
 * timer that survives its layer would show here.
 */
const ours = (kinds: ReadonlyArray<string>) => () => {
  const counts: Record<string, number> = {}
  for (const resource of process.getActiveResourcesInfo()) {
    if (kinds.includes(resource)) counts[resource] = (counts[resource] ?? 0) + 1
  }
  return counts
}
const handles = ours(["TCPSocketWrap", "TCPServerWrap", "Timeout"])

const atMost = (now: Record<string, number>, baseline: Record<string, number>) =>
  Object.entries(now).every(([kind, count]) => count <= (baseline[kind] ?? 0))

describe("leaks", () => {
  it.live("a closed workload leaves no socket, server or timer behind", () =>
    Effect.gen(function*() {
      // Closing is asynchronous: what an earlier test closed may still be going away.
      let baseline = handles()
      for (let waited = 0; waited < 3_000; waited += 100) {
        yield* Effect.sleep("100 millis")
        const now = handles()
        if (JSON.stringify(now) === JSON.stringify(baseline) && waited >= 300) break
        baseline = now
      }
      // The measure sees what it should: a server of our own shows up while it is open.
      const probe = Net.createServer()
      yield* Effect.async<void>((resume) => {
        probe.listen(0, "127.0.0.1", () => resume(Effect.void))
      })
      assert.isFalse(atMost(handles(), baseline))
      yield* Effect.async<void>((resume) => {
        probe.close(() => resume(Effect.void))
      })
      const report = yield* Engine.run({
        instances: 2,
        users: 10,
        operations: 400,
        concurrency: 8,
        faults: true,
        redisFaults: false,
        seed: 7
      })
      assert.strictEqual(report.operations, 400)
      // Sockets close asynchronously: wait (at most 3 s) for the counts to come back down.
      let after = handles()
      for (let waited = 0; waited < 3_000 && !atMost(after, baseline); waited += 50) {
        yield* Effect.sleep("50 millis")
        after = handles()
      }
      console.log(`leaks: before ${JSON.stringify(baseline)}, after ${JSON.stringify(after)}`)
      assert.isTrue(
        atMost(after, baseline),
        `left behind: ${JSON.stringify(after)} against ${JSON.stringify(baseline)}`
      )
    }), 60_000)
})
