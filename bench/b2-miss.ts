/**
 * B2: an uncached GET (a cache miss, then the store write) through the whole stack to a local
 * server returning a fixed credentials list, against undici `request()` plus `JSON.parse` of the
 * same answer. Sequential, and 32 at a time; over the lean transport (`NodeTinkHttpClient`, what
 * `NodeTink` uses) with no tracer installed and with one, and over the platform's
 * `NodeHttpClient.layerUndici`. Two floors, with no code of this library, say what is reachable:
 * the least a cached, typed miss does in an Effect program, and `layerUndici` alone.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { ResponseCache, TinkUser } from "@tink-effect/core"
import { Schemas, Users } from "@tink-effect/users"
import { Context, DefaultServices, Effect, Layer, ManagedRuntime, Runtime, Schema, Tracer } from "effect"
import { Agent, Client, type Dispatcher, request } from "undici"
import { type Measurement, measurePair } from "./harness.js"
import { fixedListServer } from "./servers.js"
import { nodeRuntime, sessions, transports } from "./stack.js"

export interface Pair {
  readonly sequential: readonly [Measurement, Measurement]
  readonly concurrent: readonly [Measurement, Measurement]
}

export interface B2 {
  readonly lean: Pair
  readonly leanTraced: Pair & { readonly spans: number }
  readonly layerUndici: Pair
  /** The least a cached, typed miss costs in an Effect program (no library code), sequential. */
  readonly floor: readonly [Measurement, Measurement]
  /** The same with a tracer installed and the fetch in an operation span and an attempt span. */
  readonly floorTraced: readonly [Measurement, Measurement]
  /** `NodeHttpClient.layerUndici` alone (`HttpClient.get` and `json`), sequential. */
  readonly layerUndiciAlone: readonly [Measurement, Measurement]
}

const path = "/api/v1/credentials/list"

/**
 * Effect's own tracer, installed as an application installs one: spans are made and ended (as
 * an exporter would receive them) but sent nowhere, so the row counts the library's spans and
 * not an exporter's work. Counts the spans it was asked for, to show that tracing was on.
 */
const countingTracer = () => {
  const native = Context.get(DefaultServices.liveServices, Tracer.Tracer)
  const counter = { spans: 0 }
  const tracer = Tracer.make({
    span: (...args) => {
      counter.spans++
      return native.span(...args)
    },
    context: native.context
  })
  return { counter, layer: Layer.setTracer(tracer) }
}

/** undici `request()` + `JSON.parse`, `n` reads with `concurrency` at a time: every row's baseline. */
const plainReads = (url: string) => {
  const dispatcher = new Agent({ keepAliveTimeout: 60_000 })
  const raw = async () => {
    const response = await request(`${url}${path}`, {
      dispatcher,
      headers: { accept: "application/json", authorization: "Bearer token" }
    })
    return JSON.parse(await response.body.text()) as unknown
  }
  const pool = async (n: number, concurrency: number) => {
    let remaining = n
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (remaining-- > 0) await raw()
    }))
  }
  return { pool, close: () => dispatcher.close() }
}

const measureWith = async (
  transport: Layer.Layer<HttpClient.HttpClient>,
  tracer?: Layer.Layer<never>
): Promise<Pair> => {
  const server = await fixedListServer()
  const runtime = nodeRuntime(server.url, ResponseCache.layerMemory({ capacity: 1_000_000 }), transport, tracer)
  // Every read has its own session, so each one misses. The session is given to the read as
  // `Users.asUser` gives it (`TinkUser.provide`, no context change); the reads are built
  // beforehand, so a read costs what a handler's read costs.
  const reads = (await sessions(40_000)).map((user) => Users.listCredentials().pipe(TinkUser.provide(user)))
  let next = 0
  const plain = plainReads(server.url)
  const ours = (concurrency: number) => (n: number) =>
    runtime.runPromise(Effect.forEach(reads.slice(next, next += n), (read) => read, { concurrency, discard: true }))

  const sequential = await measurePair(ours(1), (n) => plain.pool(n, 1), { iterations: 1_000, samples: 9, warmup: 2 })
  const concurrent = await measurePair(ours(32), (n) => plain.pool(n, 32), { iterations: 2_000, samples: 9, warmup: 2 })
  await runtime.dispose()
  await plain.close()
  await server.close()
  return { sequential, concurrent }
}

/** The list body decoded to credentials, as `Users.listCredentials` decodes it. */
const CredentialArray = Schema.transform(Schemas.CredentialList, Schema.Array(Schema.typeSchema(Schemas.Credential)), {
  strict: true,
  decode: (list) => list.credentials,
  encode: (credentials) => ({ credentials })
})

/**
 * The floor of a miss on Effect 3, with none of this library's request pipeline or cache: what
 * any cached, typed read must do. A read runs the fetch in a fiber of its own (so that an
 * interrupted reader would spare others joining it) and awaits it; the fetch sends the request
 * on one keep-alive undici connection (`dispatch`, the body read whole, a timer for its
 * deadline), parses the JSON, decodes it with the same schema into the same classes, freezes
 * it, and keeps it in a Map. With `traced`, a tracer is installed and the fetch is in two spans,
 * an operation's and, inside it, the HTTP attempt's (`Effect.withSpan`), as an instrumented
 * client must record them.
 */
const measureFloor = async (traced: boolean): Promise<readonly [Measurement, Measurement]> => {
  const server = await fixedListServer()
  const client = new Client(new URL(server.url).origin, { keepAliveTimeout: 60_000, headersTimeout: 0, bodyTimeout: 0 })
  const decode = ResponseCache.decoderOf(CredentialArray)
  const store = new Map<string, unknown>()
  const send = (token: string) =>
    Effect.async<Buffer, Error>((resume) => {
      const chunks: Array<Buffer> = []
      let controller: Dispatcher.DispatchController | undefined
      const timer = setTimeout(() => controller?.abort(new Error("timeout")), 30_000)
      client.dispatch({
        path,
        method: "GET",
        headers: { accept: "application/json", authorization: `Bearer ${token}` }
      }, {
        onRequestStart: (started) => {
          controller = started
        },
        onResponseData: (_, chunk) => {
          chunks.push(chunk)
        },
        onResponseEnd: () => {
          clearTimeout(timer)
          resume(Effect.succeed(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)))
        },
        onResponseError: (_, error) => {
          clearTimeout(timer)
          resume(Effect.fail(error))
        }
      })
      return Effect.sync(() => controller?.abort(new Error("interrupted")))
    })
  const sent = (token: string) =>
    traced
      ? Effect.withSpan(
        Effect.withSpan(send(token), "GET /api/v1/credentials/list", { kind: "client", captureStackTrace: false }),
        "tink.users.listCredentials",
        { captureStackTrace: false }
      )
      : send(token)
  const fetchAndStore = (token: string) =>
    Effect.flatMap(sent(token), (bytes) => {
      const decoded = decode(JSON.parse(bytes.toString("utf8")))
      if (decoded._tag === "Left") return Effect.fail(new Error("the fixed list did not decode"))
      const value = ResponseCache.freezeDeep(decoded.right)
      store.set(token, value)
      return Effect.succeed(value)
    })
  const read = (token: string) =>
    Effect.withFiberRuntime<unknown, Error>((fiber, status) => {
      const cached = store.get(token)
      if (cached !== undefined) return Effect.succeed(cached)
      const runtime = Runtime.make({
        context: fiber.currentContext,
        fiberRefs: fiber.getFiberRefs(),
        runtimeFlags: status.runtimeFlags
      })
      const child = Runtime.runFork(runtime, fetchAndStore(token))
      return Effect.async<unknown, Error>((resume) => child.addObserver(resume))
    })
  let next = 0
  const plain = plainReads(server.url)
  const tracer = countingTracer()
  const reads = (n: number) =>
    Effect.forEach(Array.from({ length: n }, () => `token-${next++}`), read, { discard: true })
  const floor = await measurePair(
    (n) => Effect.runPromise(traced ? reads(n).pipe(Effect.provide(tracer.layer)) : reads(n)),
    (n) => plain.pool(n, 1),
    { iterations: 1_000, samples: 9, warmup: 2 }
  )
  await plain.close()
  await client.close()
  await server.close()
  return floor
}

/** `NodeHttpClient.layerUndici` alone, no library code: what the rows over it cannot go below. */
const measureLayerUndiciAlone = async (): Promise<readonly [Measurement, Measurement]> => {
  const server = await fixedListServer()
  const runtime = ManagedRuntime.make(transports.layerUndici)
  const get = Effect.flatMap(HttpClient.HttpClient, (client) =>
    Effect.flatMap(
      client.get(`${server.url}${path}`, { headers: { accept: "application/json", authorization: "Bearer token" } }),
      (response) => response.json
    ))
  const plain = plainReads(server.url)
  const alone = await measurePair(
    (n) => runtime.runPromise(Effect.forEach(Array.from({ length: n }), () => get, { discard: true })),
    (n) => plain.pool(n, 1),
    { iterations: 1_000, samples: 9, warmup: 2 }
  )
  await runtime.dispose()
  await plain.close()
  await server.close()
  return alone
}

export const run = async (): Promise<B2> => {
  const lean = await measureWith(transports.lean)
  const tracing = countingTracer()
  const leanTraced = { ...await measureWith(transports.lean, tracing.layer), spans: tracing.counter.spans }
  const layerUndici = await measureWith(transports.layerUndici)
  const floor = await measureFloor(false)
  const floorTraced = await measureFloor(true)
  const layerUndiciAlone = await measureLayerUndiciAlone()
  return { lean, leanTraced, layerUndici, floor, floorTraced, layerUndiciAlone }
}
