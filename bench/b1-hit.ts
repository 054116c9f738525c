/**
 * B1: a cache hit of `Users.listCredentials()` from the memory cache, in a loop inside one
 * Effect program, against (a) the same loop over `Effect.sync` of a Map lookup and (b) axios
 * with axios-cache-interceptor serving the same URL from its cache.
 */
import { Sandbox } from "@tink-effect/sandbox"
import { Ids, Users } from "@tink-effect/users"
import axios from "axios"
import { setupCache } from "axios-cache-interceptor"
import { Clock, Context, Effect, FiberRef, ManagedRuntime, Metric, MetricLabel, Redacted } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { measure, type Measurement, measurePair } from "./harness.js"
import { inMemoryTink } from "./setup.js"

export interface B1 {
  readonly hit: Measurement
  readonly mapLookup: Measurement
  /** B1r: a hit with a new session per call (`asUser` with a new `Redacted`), as a request handler does. */
  readonly perRequest: Measurement
  readonly provideLookup: Measurement
  readonly axiosHit: Measurement
  /**
   * The floor of a hit on Effect 3: the least any cache hit in an Effect program does (one
   * `withFiberRuntime` reading the session from the context, a bypass `FiberRef`, the Clock for
   * the TTL, a hit counter, a `Map` get), with no library code; measured against the same Map lookup.
   */
  readonly floor: Measurement
  readonly floorLookup: Measurement
}

class FloorSession extends Context.Tag("bench/FloorSession")<FloorSession, { readonly id: string }>() {}
const floorBypass = FiberRef.unsafeMake(false)
const floorHits = Metric.counter("bench_floor_hits_total")
const floorLabels = [MetricLabel.make("resource", "credentials")]

export const run = async (): Promise<B1> => {
  const runtime = ManagedRuntime.make(inMemoryTink)
  const { session } = await runtime.runPromise(Effect.gen(function*() {
    const sandbox = yield* Sandbox.Sandbox
    const { userId } = yield* sandbox.createUser({})
    for (let i = 0; i < 3; i++) yield* sandbox.addCredential(userId)
    const token = Redacted.make(yield* sandbox.issueUserToken(userId, ["credentials:read"]))
    return { session: { userId: Ids.UserId.make(userId), accessToken: token } }
  }))
  const rawToken = Redacted.value(session.accessToken)
  const hitLoop = (n: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* Users.listCredentials()
    }).pipe(Users.asUser(session))
  await runtime.runPromise(hitLoop(1))
  const map = new Map([["GET /api/v1/credentials/list", [1, 2, 3]]])
  const mapLoop = (n: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* Effect.sync(() => map.get("GET /api/v1/credentials/list"))
    })
  const [hit, mapLookup] = await measurePair(
    (n) => runtime.runPromise(hitLoop(n)).then(() => undefined),
    (n) => Effect.runPromise(mapLoop(n)),
    { iterations: 20_000, samples: 15 }
  )

  // B1r: what a request handler pays per request: a new session object (and a new Redacted) per
  // call, then the hit; against providing a service per call around a Map lookup.
  const perRequestLoop = (n: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) {
        yield* Users.listCredentials().pipe(
          Users.asUser({ userId: session.userId, accessToken: Redacted.make(rawToken) })
        )
      }
    })
  class Service extends Context.Tag("bench/Service")<Service, { readonly id: string }>() {}
  const provideLoop = (n: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) {
        yield* Effect.provideService(Service, { id: "user" })(
          Effect.sync(() => map.get("GET /api/v1/credentials/list"))
        )
      }
    })
  const [perRequest, provideLookup] = await measurePair(
    (n) => runtime.runPromise(perRequestLoop(n)).then(() => undefined),
    (n) => Effect.runPromise(provideLoop(n)),
    { iterations: 20_000, samples: 15 }
  )

  const floorHit = Effect.withFiberRuntime((fiber) => {
    Context.get(fiber.currentContext as Context.Context<FloorSession>, FloorSession)
    if (fiber.getFiberRef(floorBypass)) return Effect.void
    Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
    floorHits.unsafeUpdate(1, floorLabels)
    return Effect.succeed(map.get("GET /api/v1/credentials/list"))
  })
  const floorLoop = (n: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* floorHit
    }).pipe(Effect.provideService(FloorSession, { id: "user" }))
  const [floor, floorLookup] = await measurePair(
    (n) => Effect.runPromise(floorLoop(n)),
    (n) => Effect.runPromise(mapLoop(n)),
    { iterations: 20_000, samples: 15 }
  )

  const body = JSON.stringify({ credentials: [{ id: "a" }, { id: "b" }, { id: "c" }] })
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "max-age=30" })
    res.end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/credentials/list`
  const cached = setupCache(axios.create(), { ttl: 30_000 })
  await cached.get(url)
  const axiosHit = await measure(async (n) => {
    for (let i = 0; i < n; i++) await cached.get(url)
  }, { iterations: 2_000, samples: 9 })
  server.close()
  await runtime.dispose()
  return { hit, mapLookup, perRequest, provideLookup, axiosHit, floor, floorLookup }
}
