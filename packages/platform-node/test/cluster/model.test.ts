/**
 * The model test (test/reliability/model.test.ts) on a real local Redis Cluster (3 primaries, 3
 * replicas, started once for this file by test/utils/cluster.ts): generated histories of reads and
 * mutations, through 2 or 3 instances whose stores use `cluster: { nodes }`, over the sandbox on
 * real sockets, with cluster faults in the middle: a manual `CLUSTER FAILOVER` (coordinated, or
 * `FORCE`) of the primary serving a scope the history uses, while commands keep running, and every
 * store connection to a primary killed (`CLIENT KILL`). The oracle is the model test's
 * (utils/oracle.ts): a read that starts after a mutation returned never returns data from before
 * it, unless the store left that mutation's invalidation pending (asked of the store itself), and
 * then only through other instances and only until the store has delivered it; never another
 * user's data; Tink's state is what the mutations asked for. Hits are not required (a failover
 * moves the scope to a new epoch: a cold cache, by design).
 *
 * Never skipped: a cluster that does not start fails the test.
 *
 * Reproduce a failure: fast-check prints `seed` and `path`; run
 *   MODEL_SEED=<seed> MODEL_PATH=<path> npx vitest run packages/platform-node/test/cluster/model.test.ts
 * (the same commands and faults, with live timing; it stops at the first failure without shrinking).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Logger, LogLevel } from "effect"
import { type Report, run, type Scenario, scenarioArbitrary } from "../reliability/utils/scenario.js"
import * as Worlds from "../reliability/utils/worlds.js"
import * as Cluster from "../utils/cluster.js"

const envSeed = process.env["MODEL_SEED"]
const seed = envSeed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(envSeed)
const path = process.env["MODEL_PATH"]
/** Runs of the property (each a fresh sandbox, fresh instances and namespace, one shared cluster). */
const numRuns = Number(process.env["MODEL_RUNS"] ?? 5)

/** Runs start only within this many ms of the first (the totals print how many ran). */
const budgetMs = Number(process.env["MODEL_BUDGET_MS"] ?? 14_000)
let deadline: number | undefined

const shared = Cluster.shared()
afterAll(() => shared.close(), 30_000)

const quiet = <A, E, R>(effect: Effect.Effect<A, E, R>) => Logger.withMinimumLogLevel(effect, LogLevel.Error)

const describeScenario = (scenario: Scenario) =>
  `instances ${scenario.instances}, users ${scenario.users.length}, events ${
    scenario.events.map((event) => `${event.at}:${JSON.stringify(event.fault)}`).join(" ")
  }`

const sum = {
  runs: 0,
  /** Runs generated after the time budget ran out, not played. */
  overBudget: 0,
  reads: 0,
  mutations: 0,
  pendingMutations: 0,
  deliveries: 0,
  failedReads: 0,
  mismatchedCommands: 0,
  events: 0
}
const counts: Worlds.ClusterFaultCounts = {
  failovers: 0,
  forcedFailovers: 0,
  longestFailoverMs: 0,
  clientKills: 0,
  connectionsKilled: 0,
  readsDuringFailover: 0,
  invalidationsDuringFailover: 0
}
/** Why reads failed, by error tag (a deleted user's token, a deleted credential...). */
const failures: Record<string, number> = {}
const add = (report: Report) => {
  for (const line of report.trace) {
    const tag = /: \d+ GET, failed (\S+)/.exec(line)?.[1]
    if (tag !== undefined) failures[tag] = (failures[tag] ?? 0) + 1
  }
  sum.runs++
  sum.reads += report.reads
  sum.mutations += report.mutations
  sum.pendingMutations += report.pendingMutations
  sum.deliveries += report.deliveries
  sum.failedReads += report.failedReads
  sum.mismatchedCommands += report.mismatchedCommands
  sum.events += report.events
}

console.log(`cluster model test seed ${seed}${path === undefined ? "" : ` path ${path}`}`)

describe("model on Redis Cluster: reads and mutations through 2-3 instances, failovers and killed connections", () => {
  it.live.prop(
    "failovers (coordinated and FORCE) of a history's slot and CLIENT KILL mid-history: nothing stale, nothing cross-user",
    [scenarioArbitrary({
      minCommands: 30,
      maxCommands: 45,
      maxGap: 10,
      mismatched: true,
      episodes: ["failover", "forcedFailover", "clientKill"],
      maxEpisodes: 2,
      minInstances: 2
    })],
    ([scenario]) =>
      Effect.gen(function*() {
        const cluster = yield* shared.cluster
        // The time budget, counted from the first run (once the cluster is up). Checked here, not
        // with fast-check's time limit, which would leave a run's fiber (a failover, its wait)
        // running past the test.
        deadline ??= Date.now() + budgetMs
        if (Date.now() > deadline) {
          sum.overBudget++
          return
        }
        // Each run starts from a cluster whose every slot has a live primary and synced replica.
        yield* cluster.healthy({ synced: true })
        const world = yield* Worlds.cluster(scenario.instances, cluster, counts)
        yield* world.sandbox.setFaults([{ fault: { _tag: "Latency", millis: 0, maxMillis: 20 } }])
        const report = yield* run(scenario, world, {
          await: (fibers) => Effect.asVoid(Fiber.joinAll(fibers)),
          faults: false,
          startDelay: 5,
          singleFlight: false,
          // A failover starts the slot's scopes over (a new epoch): misses are legitimate.
          hits: false,
          // A session may change only the user it names (finding 4).
          tokenMayAct: false
        })
        add(report)
        if (report.violations.length > 0) {
          assert.fail(`${describeScenario(scenario)}\n${report.violations.join("\n")}\n${report.trace.join("\n")}`)
        }
      }).pipe(Effect.scoped, quiet),
    {
      timeout: 60_000,
      fastCheck: {
        seed,
        numRuns,
        endOnFailure: true,
        ...(path === undefined ? {} : { path })
      }
    }
  )

  /*
   * The world's self-check, on one crafted history: instance 1 reads a user's list twice (the
   * second a hit), instance 0 deletes one of the user's credentials, then instance 1 reads the list
   * again every 100 ms. A correct store passes; one whose invalidations are lost while it says
   * they were delivered (so the mutation's mark binds every instance at once) must be caught.
   */
  const crafted: Scenario = (() => {
    const command = (op: "list" | "delete", instance: number, gap: number) => ({
      op,
      user: 0,
      credential: 0,
      instance,
      gap,
      mismatch: 0,
      tokenOwnersCredential: false
    })
    return {
      seed: 1,
      instances: 2,
      users: [{ credentials: 2, withUserId: true }],
      commands: [
        command("list", 1, 0),
        command("list", 1, 20),
        command("delete", 0, 20),
        ...Array.from({ length: 4 }, () => command("list", 1, 100))
      ],
      events: []
    }
  })()
  for (
    const [name, broken] of [
      ["self-check: a correct store passes the crafted history", undefined],
      ["self-check: a store that loses invalidations and says it delivered them is caught", "dropsInvalidations"]
    ] as const
  ) {
    it.live(name, () =>
      Effect.gen(function*() {
        const cluster = yield* shared.cluster
        yield* cluster.healthy({ synced: true })
        const world = yield* Worlds.cluster(crafted.instances, cluster, { ...counts }, { broken })
        const report = yield* run(crafted, world, {
          await: (fibers) => Effect.asVoid(Fiber.joinAll(fibers)),
          faults: false,
          startDelay: 5,
          singleFlight: false,
          hits: broken === undefined
        })
        if (broken === undefined) {
          assert.deepStrictEqual(report.violations, [], report.trace.join("\n"))
          return
        }
        const stale = report.violations.filter((violation) => /STALE/.test(violation))
        assert.isAbove(stale.length, 0, `not caught\n${report.trace.join("\n")}`)
        assert.match(stale[0]!, /^#\d+ list user 0 instance 1: STALE .*deleted before/)
      }).pipe(Effect.scoped, quiet), 30_000)
  }

  it("totals: the faults happened and the store's pending invalidations were seen", () => {
    console.log(`cluster model (seed ${seed}): ${JSON.stringify({ ...sum, ...counts, failures })}`)
    assert.isAbove(sum.runs, 0, "no history ran")
    assert.isAbove(sum.mutations, 0)
    if (path === undefined && envSeed === undefined && sum.runs >= 4) {
      // Every history has at least one episode (histories.ts); over several runs each kind shows up.
      assert.isAbove(counts.failovers + counts.forcedFailovers + counts.clientKills, 0, "no cluster fault ran")
    }
  })
})
