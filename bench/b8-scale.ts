/**
 * B8: how the shared Redis cache scales out. 1, 2 and 4 client processes (child processes, each
 * with its own store and connection, 16 concurrent readers) against one Redis and against a local
 * Redis Cluster (3 primaries, 3 replicas, started here), in two mixes:
 * - hit: 1 000 users, one cached read each, 1 % of operations a mutation (the upstream's version
 *   moves on, then the user is invalidated);
 * - miss: every read a new key (a miss: upstream fetch + write), the same 1 % of mutations.
 * The upstream is an HTTP server in the parent (a version per user), so a miss costs a loopback
 * request as Tink would. Each process logs every read's start time and version and every
 * mutation's return time and version (wall clock, `performance.timeOrigin + now()`); the parent
 * counts stale reads: a read that started after a mutation of its user had returned, and got an
 * older version. Reports ops/s, p50/p99 of reads, the ratio of 4 processes to 1.
 *
 * Run alone: `npx tsx --conditions=source bench/b8-scale.ts`.
 */
import { ResponseCache } from "@tink-effect/core"
import { RedisResponseStore } from "@tink-effect/platform-node"
import { Duration, Effect, Exit, Schema, Scope } from "effect"
import { fork } from "node:child_process"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import * as Cluster from "../packages/platform-node/test/utils/cluster.js"
import { median } from "./harness.js"

const users = 1_000
const mutationShare = 0.01
const concurrency = 16
const durationMs = 1_200
/** Building the stores and warming up, before every process starts measuring at once. */
const warmupMs = 700

interface ChildConfig {
  readonly mode: "hit" | "miss"
  readonly target: { readonly url: string } | { readonly cluster: ReadonlyArray<string> }
  readonly namespace: string
  readonly upstream: string
  readonly process: number
  /** Wall-clock ms at which every process starts measuring together (after building and warming up). */
  readonly startAt: number
}

interface ChildResult {
  readonly reads: number
  readonly mutations: number
  readonly elapsedMs: number
  /** Read latencies in microseconds (a sample of at most 20 000). */
  readonly latencies: ReadonlyArray<number>
  /** [user, start ms, version] of every read. */
  readonly readLog: ReadonlyArray<readonly [number, number, number]>
  /** [user, returned ms, version] of every mutation. */
  readonly mutationLog: ReadonlyArray<readonly [number, number, number]>
}

export interface B8Row {
  readonly target: "redis" | "cluster"
  readonly mode: "hit" | "miss"
  readonly processes: number
  readonly opsPerSecond: number
  readonly p50Us: number
  readonly p99Us: number
  readonly stale: number
  readonly reads: number
  readonly mutations: number
}

export interface B8 {
  readonly rows: ReadonlyArray<B8Row>
  /** ops/s with 4 processes over ops/s with 1, per target and mode. */
  readonly scaling: ReadonlyArray<{ readonly target: string; readonly mode: string; readonly ratio: number }>
  readonly stale: number
}

const now = () => performance.timeOrigin + performance.now()

const Version = Schema.Struct({ version: Schema.Number })

/** The child: one process of the application, running the mix for `durationMs`. */
const child = async (config: ChildConfig): Promise<ChildResult> => {
  const agent = new Http.Agent({ keepAlive: true, maxSockets: concurrency })
  const call = (method: string, path: string) =>
    new Promise<number>((resolve, reject) => {
      const request = Http.request(`${config.upstream}${path}`, { method, agent }, (response) => {
        let body = ""
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => body += chunk)
        response.on("end", () => resolve(Number(body)))
      })
      request.on("error", reject)
      request.end()
    })
  const scope = await Effect.runPromise(Scope.make())
  const store = await Effect.runPromise(
    RedisResponseStore.make({
      ...("url" in config.target ?
        { url: config.target.url } :
        { cluster: { nodes: [config.target.cluster[0]!, ...config.target.cluster.slice(1)] } }),
      namespace: config.namespace,
      timeout: "100 millis"
    }).pipe(Effect.provideService(Scope.Scope, scope))
  )
  const cache = await Effect.runPromise(ResponseCache.make(store).pipe(Effect.provideService(Scope.Scope, scope)))
  const latencies: Array<number> = []
  const readLog: Array<readonly [number, number, number]> = []
  const mutationLog: Array<readonly [number, number, number]> = []
  let reads = 0
  let mutations = 0
  let missKey = 0
  let measuring = false
  let started = now()
  const record = <A>(log: Array<A>, item: A) => {
    if (measuring) log.push(item)
  }
  const worker = async (until: () => boolean) => {
    while (!until()) {
      const user = Math.floor(Math.random() * users)
      if (Math.random() < mutationShare) {
        const version = await call("POST", `/m/${user}`)
        await Effect.runPromise(cache.invalidate(`u:${user}`))
        // Logged during warm-up too: the stale check needs every mutation.
        mutationLog.push([user, now(), version])
        if (measuring) mutations++
        continue
      }
      const key = config.mode === "hit" ? "GET /api/v1/credentials/list" : `GET /x/${config.process}/${missKey++}`
      const start = now()
      const value = await Effect.runPromise(cache.lookup({
        scope: `u:${user}`,
        key,
        ttl: Duration.minutes(10),
        schema: Version,
        fetch: Effect.promise(() => call("GET", `/v/${user}`)).pipe(Effect.map((version) => ({ version })))
      }))
      const end = now()
      if (measuring) reads++
      if (measuring && latencies.length < 20_000) latencies.push((end - start) * 1000)
      record(readLog, [user, start, value.version] as const)
    }
  }
  // Warm up (connections, JIT) until the common start, then measure for `durationMs`.
  await Promise.all(Array.from({ length: concurrency }, () => worker(() => now() >= config.startAt)))
  measuring = true
  started = now()
  await Promise.all(Array.from({ length: concurrency }, () => worker(() => now() - started >= durationMs)))
  const elapsedMs = now() - started
  await Effect.runPromise(Scope.close(scope, Exit.void))
  agent.destroy()
  return { reads, mutations, elapsedMs, latencies, readLog, mutationLog }
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

/** Stale reads: a read that started after a mutation of its user returned, with an older version. */
const countStale = (results: ReadonlyArray<ChildResult>): number => {
  const mutations = new Map<number, Array<readonly [number, number]>>()
  for (const result of results) {
    for (const [user, at, version] of result.mutationLog) {
      let list = mutations.get(user)
      if (list === undefined) mutations.set(user, list = [])
      list.push([at, version])
    }
  }
  for (const list of mutations.values()) list.sort((a, b) => a[0] - b[0])
  let stale = 0
  for (const result of results) {
    for (const [user, start, version] of result.readLog) {
      const list = mutations.get(user)
      if (list === undefined) continue
      let floor = 0
      for (const [at, v] of list) {
        if (at >= start) break
        if (v > floor) floor = v
      }
      if (version < floor) stale++
    }
  }
  return stale
}

/** The client processes, started once (each boots tsx) and given one configuration at a time. */
const pool = async (size: number) => {
  const procs = await Promise.all(
    Array.from({ length: size }, () =>
      new Promise<ReturnType<typeof fork>>((resolve, reject) => {
        const proc = fork(fileURLToPath(import.meta.url), ["child"], {
          execArgv: process.execArgv,
          stdio: ["ignore", "ignore", "inherit", "ipc"]
        })
        proc.once("message", () => resolve(proc))
        proc.once("error", reject)
      }))
  )
  return {
    run: (configs: ReadonlyArray<ChildConfig>) =>
      Promise.all(configs.map((config, i) =>
        new Promise<ChildResult>((resolve, reject) => {
          const proc = procs[i]!
          const onExit = (code: number | null) => reject(new Error(`B8 child exited with ${code}`))
          proc.once("exit", onExit)
          proc.once("message", (message) => {
            proc.off("exit", onExit)
            resolve(message as ChildResult)
          })
          proc.send(config)
        })
      )),
    close: () => procs.forEach((proc) => proc.kill())
  }
}

/** The upstream: a version per user; POST /m/:user moves it on and answers the new one. */
const upstream = async () => {
  const versions = new Map<string, number>()
  const server = Http.createServer((request, response) => {
    const [, op, user] = (request.url ?? "").split("/")
    const current = versions.get(user!) ?? 1
    if (op === "m") versions.set(user!, current + 1)
    response.end(String(op === "m" ? current + 1 : current))
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() }
}

export const run = async (): Promise<B8> => {
  const server = await upstream()
  const scope = await Effect.runPromise(Scope.make())
  const rows: Array<B8Row> = []
  const clients = await pool(4)
  try {
    const cluster = await Effect.runPromise(Cluster.make.pipe(Effect.provideService(Scope.Scope, scope)))
    const targets = [
      ["redis", { url: "redis://127.0.0.1:6379" }],
      ["cluster", { cluster: cluster.seeds }]
    ] as const
    for (const [target, spec] of targets) {
      for (const mode of ["hit", "miss"] as const) {
        for (const processes of [1, 2, 4]) {
          const namespace = `tink-bench-b8-${Math.random().toString(36).slice(2, 8)}`
          const startAt = now() + warmupMs
          const results = await clients.run(Array.from({ length: processes }, (_, i) => ({
            mode,
            target: spec,
            namespace,
            upstream: server.url,
            process: i,
            startAt
          })))
          const reads = results.reduce((n, r) => n + r.reads, 0)
          const mutations = results.reduce((n, r) => n + r.mutations, 0)
          const elapsed = median(results.map((r) => r.elapsedMs)) / 1000
          const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b)
          rows.push({
            target,
            mode,
            processes,
            opsPerSecond: (reads + mutations) / elapsed,
            p50Us: percentile(latencies, 0.5),
            p99Us: percentile(latencies, 0.99),
            stale: countStale(results),
            reads,
            mutations
          })
          console.error(`B8 ${target} ${mode} x${processes}: ${JSON.stringify(rows[rows.length - 1])}`)
        }
      }
    }
  } finally {
    clients.close()
    await Effect.runPromise(Scope.close(scope, Exit.void))
    server.close()
  }
  const scaling = rows.filter((row) => row.processes === 4).map((four) => {
    const one = rows.find((row) => row.target === four.target && row.mode === four.mode && row.processes === 1)!
    return { target: four.target, mode: four.mode, ratio: four.opsPerSecond / one.opsPerSecond }
  })
  return { rows, scaling, stale: rows.reduce((n, row) => n + row.stale, 0) }
}

if (process.argv[2] === "child") {
  process.on("message", (config) => {
    void child(config as ChildConfig).then((result) => process.send!(result))
  })
  process.send!("ready")
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const b8 = await run()
  console.log(JSON.stringify(b8, null, 2))
}
