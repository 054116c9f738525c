/**
 * `npm run test:soak`: the long soak (2 instances, 100 users, 100 000 operations by default, faults
 * switched on at random, the real Redis on 127.0.0.1:6379). Prints the figures of RELIABILITY.md
 * and exits non-zero if any read was stale or another user's, any operation died, or a user was
 * created twice.
 *
 * Options (environment): SOAK_OPERATIONS, SOAK_USERS, SOAK_INSTANCES, SOAK_CONCURRENCY, SOAK_SEED,
 * SOAK_MISMATCHED (share of operations through a session naming one user with another's token,
 * default 0.04), SOAK_REDIS_FAULTS (default 1: one instance's link to Redis is paused, slowed past
 * the bound or cut at a time, so its reads have no generation while the other instance mutates;
 * 0 leaves Redis alone).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Logger, LogLevel } from "effect"
import * as Engine from "./engine.js"

const env = (name: string, fallback: number): number => {
  const value = process.env[name]
  return value === undefined || value === "" ? fallback : Number(value)
}

const options: Engine.Options = {
  instances: env("SOAK_INSTANCES", 2),
  users: env("SOAK_USERS", 100),
  operations: env("SOAK_OPERATIONS", 100_000),
  concurrency: env("SOAK_CONCURRENCY", 32),
  faults: true,
  redisFaults: env("SOAK_REDIS_FAULTS", 1) !== 0,
  mismatched: env("SOAK_MISMATCHED", 0.04),
  seed: env("SOAK_SEED", Math.floor(Math.random() * 2 ** 31)),
  onProgress: (done) => {
    if (done % 10_000 === 0) console.error(`  ${done} operations`)
  }
}

const program = Effect.gen(function*() {
  console.log(`soak: ${JSON.stringify(options, (key, value) => key === "onProgress" ? undefined : value)}`)
  const report = yield* Engine.run(options)
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) gc()
  const after = Math.round(process.memoryUsage().heapUsed / 1024 / 1024)
  console.log(JSON.stringify({ ...report, heapAfterGcMb: after }, null, 2))
  const failed = report.staleReads > 0 || report.crossUserReads > 0 || report.defects > 0 ||
    report.duplicateUsers > 0 || report.wrongUserChanged > 0
  if (failed) {
    console.error(
      "soak FAILED: stale or cross-user reads, defects, duplicate users or a wrong user changed (see examples)"
    )
    process.exitCode = 1
  } else {
    console.log(
      `soak passed: ${report.operations} operations in ${
        report.seconds.toFixed(1)
      } s, ${report.faultsInjected} faults, ` +
        `${report.retries} retries, 0 stale reads, 0 cross-user reads, peak RSS ${report.peakRssMb} MB`
    )
  }
}).pipe(Logger.withMinimumLogLevel(LogLevel.Error))

NodeRuntime.runMain(program)
