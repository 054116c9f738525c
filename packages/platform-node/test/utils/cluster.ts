/**
 * A Redis Cluster of the tests' own: 3 primaries and 3 replicas of `redis-server` on free loopback
 * ports in a fresh temp directory (`--cluster-enabled yes --save "" --appendonly no`), joined with
 * `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`. `make` waits (bounded) until
 * every node reports `cluster_state:ok` with all 16384 slots covered and every replica is in sync;
 * its scope kills every process and deletes the directory, also when starting failed.
 *
 * Never skipped: if `redis-server` or `redis-cli` is missing or the cluster does not form in time,
 * `make` dies with the reason, so the tests using it fail (under CI as anywhere).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { createClient } from "redis"

const redisServer = process.env["REDIS_SERVER"] ?? "redis-server"
const redisCli = process.env["REDIS_CLI"] ?? "redis-cli"

/** CRC16/XMODEM, as Redis Cluster hashes keys. */
const crc16 = (text: string): number => {
  let crc = 0
  for (const byte of Buffer.from(text)) {
    crc ^= byte << 8
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc
}

/** The slot of every key whose hash tag is `scope` (the store's keys carry `{scope}`), without asking Redis. */
export const slotOfScope = (scope: string): number => crc16(scope) % 16384

/** One node of the test cluster. */
export interface ClusterNode {
  readonly port: number
  readonly url: string
  /** SIGKILL: no shutdown; its clients see their connections reset. */
  readonly kill: Effect.Effect<void>
  /** Starts it again on the same port and directory (it rejoins with its nodes.conf). */
  readonly start: Effect.Effect<void>
  readonly alive: () => boolean
}

export interface Cluster {
  readonly nodes: ReadonlyArray<ClusterNode>
  /** Seed URLs for the store's `cluster.nodes`. */
  readonly seeds: readonly [string, ...Array<string>]
  /** One command to the node on `port`, on a short-lived connection; an error reply is returned as an `Error`. */
  readonly send: (port: number, args: ReadonlyArray<string>) => Effect.Effect<unknown>
  /** The hash slot of a key (CLUSTER KEYSLOT). */
  readonly slotOf: (key: string) => Effect.Effect<number>
  /**
   * The primary serving `slot` now (`undefined` while the one the cluster names is dead), and its
   * live replicas, as the live nodes see it.
   */
  readonly shardOf: (
    slot: number
  ) => Effect.Effect<{ readonly primary: number | undefined; readonly replicas: ReadonlyArray<number> }>
  /** The node id of the node on `port`. */
  readonly idOf: (port: number) => Effect.Effect<string>
  /**
   * Waits (at most `within`, default 20 s) until every live node reports `cluster_state:ok`, every
   * slot has a live primary, and, with `synced`, every live replica's link to its primary is up.
   */
  readonly healthy: (
    options?: { readonly within?: Duration.DurationInput; readonly synced?: boolean }
  ) => Effect.Effect<void>
}

/** A port whose cluster bus port (port + 10000) is free too. */
const freePort = (taken: Set<number>): Effect.Effect<number> =>
  Effect.async<number>((resume) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resume(Effect.succeed(port)))
    })
  }).pipe(
    Effect.filterOrFail((port) => port <= 55_000 && !taken.has(port), () => "taken"),
    Effect.flatMap((port) =>
      Effect.async<number, string>((resume) => {
        const bus = Net.createServer()
        bus.once("error", () => resume(Effect.fail("bus port taken")))
        bus.listen(port + 10_000, "127.0.0.1", () => bus.close(() => resume(Effect.succeed(port))))
      })
    ),
    Effect.retry(Schedule.recurs(50)),
    Effect.tap((port) => Effect.sync(() => taken.add(port))),
    Effect.orDie
  )

const command = (port: number, args: ReadonlyArray<string>) =>
  Effect.tryPromise(async () => {
    const client = createClient({
      url: `redis://127.0.0.1:${port}`,
      socket: { reconnectStrategy: false, connectTimeout: 1000 }
    })
    client.on("error", () => undefined)
    await client.connect()
    try {
      return await client.sendCommand([...args]).catch((error: unknown) => error as Error)
    } finally {
      client.destroy()
    }
  })

const run = (file: string, args: ReadonlyArray<string>, timeoutMs: number) =>
  Effect.async<string, Error>((resume) => {
    const child = execFile(file, [...args], { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error !== null) {
        resume(Effect.fail(new Error(`${file} ${args[0] ?? ""} failed: ${error.message}\n${stdout}\n${stderr}`)))
      } else resume(Effect.succeed(stdout))
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const info = (text: string, field: string): string | undefined =>
  new RegExp(`^${field}:(.*)$`, "m").exec(text)?.[1]?.trim()

/** `CLUSTER NODES` as rows. */
const parseNodes = (text: string) =>
  text.trim().split("\n").map((line) => {
    const [id, address, flags, master, , , , link, ...slots] = line.split(" ")
    return {
      id: id!,
      port: Number(address!.split("@")[0]!.split(":")[1]),
      flags: flags!.split(","),
      master: master!,
      connected: link === "connected",
      slots: slots.filter((range) => !range.startsWith("["))
    }
  })

const covers = (ranges: ReadonlyArray<string>, slot: number) =>
  ranges.some((range) => {
    const [from, to = from] = range.split("-").map(Number)
    return slot >= from! && slot <= to!
  })

export const make: Effect.Effect<Cluster, never, Scope.Scope> = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "tink-cluster-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )
  const taken = new Set<number>()
  const ports: Array<number> = []
  for (let i = 0; i < 6; i++) ports.push(yield* freePort(taken))

  const nodes = yield* Effect.forEach(ports, (port) =>
    Effect.gen(function*() {
      const nodeDir = Path.join(dir, String(port))
      Fs.mkdirSync(nodeDir)
      let child: ChildProcess | undefined
      const spawnIt = Effect.sync(() => {
        child = spawn(redisServer, [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--dir",
          nodeDir,
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          "nodes.conf",
          // Fast failure detection: a killed primary is replaced in about two seconds.
          "--cluster-node-timeout",
          "1000",
          "--cluster-replica-validity-factor",
          "0",
          // Replicas sync at once (Redis 7 waits 5 s for more replicas before a diskless sync).
          "--repl-diskless-sync-delay",
          "0",
          "--save",
          "",
          "--appendonly",
          "no",
          "--logfile",
          "redis.log"
        ], { stdio: "ignore" })
        failure = undefined
        const started = child
        // A missing binary or a server that exits at once fails the start now, not at the timeout.
        started.on("error", (error) => {
          failure = error.message
        })
        started.on("exit", (code, signal) => {
          if (child === started) failure = `exited with ${code ?? signal}`
        })
      })
      let failure: string | undefined
      const answering = Effect.retry(
        Effect.suspend(() =>
          failure !== undefined
            ? Effect.die(new Error(`redis-server (${redisServer}) did not start on port ${port}: ${failure}`))
            : Effect.flatMap(
              command(port, ["PING"]),
              (reply) => String(reply) === "PONG" ? Effect.void : Effect.fail(reply)
            )
        ),
        Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(250)))
      ).pipe(Effect.orDieWith((error) =>
        new Error(`redis-server (${redisServer}) did not start on port ${port}: ${String(error)}`)
      ))
      const kill = Effect.sync(() => {
        if (child !== undefined && child.exitCode === null && child.signalCode === null) {
          child.kill("SIGKILL")
        }
        child = undefined
      })
      yield* Effect.acquireRelease(spawnIt, () =>
        kill)
      // Also when the test process dies without closing the scope (a killed worker).
      const onExit = () => child?.kill("SIGKILL")
      process.once("exit", onExit)
      yield* Effect.addFinalizer(() => Effect.sync(() => process.off("exit", onExit)))
      yield* answering
      const node: ClusterNode = {
        port,
        url: `redis://127.0.0.1:${port}`,
        kill,
        start: Effect.zipRight(spawnIt, answering),
        alive: () => child !== undefined
      }
      return node
    }), { concurrency: "unbounded" })

  yield* run(redisCli, [
    "--cluster",
    "create",
    ...ports.map((port) => `127.0.0.1:${port}`),
    "--cluster-replicas",
    "1",
    "--cluster-yes"
  ], 15_000).pipe(Effect.orDie)

  const send = (port: number, args: ReadonlyArray<string>) => Effect.orDie(command(port, args))
  const liveNodes = () => nodes.filter((node) => node.alive())
  const topology = Effect.gen(function*() {
    for (const node of liveNodes()) {
      const text = yield* Effect.either(command(node.port, ["CLUSTER", "NODES"]))
      if (text._tag === "Right" && typeof text.right === "string") return parseNodes(text.right)
    }
    return yield* Effect.dieMessage("no node of the test cluster answers")
  })

  const healthy: Cluster["healthy"] = (options) =>
    Effect.gen(function*() {
      for (const node of liveNodes()) {
        const text = String(yield* command(node.port, ["CLUSTER", "INFO"]))
        if (info(text, "cluster_state") !== "ok" || info(text, "cluster_slots_ok") !== "16384") {
          return yield* Effect.fail(
            `node ${node.port}: ${info(text, "cluster_state")}, slots ok ${info(text, "cluster_slots_ok")}`
          )
        }
        const rows = parseNodes(String(yield* command(node.port, ["CLUSTER", "NODES"])))
        const alive = new Set(liveNodes().map((n) => n.port))
        // Every primary holding slots is a live process, and every node agrees.
        for (const row of rows) {
          if (row.flags.includes("master") && row.slots.length > 0 && !alive.has(row.port)) {
            return yield* Effect.fail(`node ${node.port} still routes slots to ${row.port}`)
          }
        }
        if (options?.synced === true) {
          const replication = String(yield* command(node.port, ["INFO", "replication"]))
          if (info(replication, "role") === "slave" && info(replication, "master_link_status") !== "up") {
            return yield* Effect.fail(`replica ${node.port} not in sync`)
          }
        }
      }
    }).pipe(
      Effect.retry(Schedule.spaced("50 millis")),
      Effect.timeoutFail({
        duration: options?.within ?? "20 seconds",
        onTimeout: () => new Error("the test cluster did not become healthy in time")
      }),
      Effect.orDie
    )

  yield* healthy({ synced: true })

  const cluster: Cluster = {
    nodes,
    seeds: [nodes[0]!.url, ...nodes.slice(1).map((node) => node.url)],
    send,
    slotOf: (key) => Effect.map(send(nodes[0]!.port, ["CLUSTER", "KEYSLOT", key]), Number),
    shardOf: (slot) =>
      Effect.map(topology, (rows) => {
        const alive = new Set(liveNodes().map((n) => n.port))
        const primary = rows.find((row) =>
          row.flags.includes("master") && covers(row.slots, slot) && alive.has(row.port)
        )
        if (primary === undefined) return { primary: undefined, replicas: [] }
        return {
          primary: primary.port,
          replicas: rows.filter((row) => row.master === primary.id && alive.has(row.port)).map((row) => row.port)
        }
      }),
    idOf: (port) => Effect.map(send(port, ["CLUSTER", "MYID"]), String),
    healthy
  }
  return cluster
})

/**
 * One cluster shared by the tests of a file: started by the first test that asks for it, stopped by
 * `close` (call it in `afterAll`). A cluster that fails to start fails every test asking for it
 * (the failure is cached), instead of a hook failing and the tests being reported as skipped.
 */
export const shared = (): { readonly cluster: Effect.Effect<Cluster>; readonly close: () => Promise<void> } => {
  const scope = Effect.runSync(Scope.make())
  const cluster = Effect.runSync(Effect.cached(Scope.extend(make, scope)))
  return { cluster, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}
