/**
 * Secrets never leave: with a known client secret, and every token and authorization code the
 * sandbox issues during a run of every operation and of the faults that make errors and logs
 * (401, 400, wrong shapes, dropped connections, a Redis outage during a mutation), none of them
 * appears in any log line, span (name, attribute, event, exit), metric (name, tag, state), error
 * (message, String, JSON, inspect, Cause.pretty), or Redis key or value (every command seen with
 * MONITOR, and every key left in the namespace).
 */
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache, type TinkClient, type TinkError } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import { Ids, Users } from "@tink-effect/users"
import { Context, Effect, Layer, Logger, LogLevel, Metric, Redacted, Schedule } from "effect"
import * as Instance from "../utils/instance.js"
import * as Redis from "../utils/redis.js"
import * as Capture from "./utils/capture.js"
import * as FaultProxy from "./utils/faultProxy.js"

const clientId = "reliability-client"
const clientSecret = "S3cr3t-of-the-reliability-client-7f3a9c"
const list = "/api/v1/credentials/list"

describe("no secret in any log, span, metric, error or Redis entry", () => {
  it.live("a full lifecycle with faults, over sockets, with the Redis cache", () =>
    Effect.gen(function*() {
      const admin = yield* Redis.admin
      // The server is built without the capture: only what the library emits is inspected.
      const context = yield* Layer.build(SandboxServer.layer({
        sandbox: { clients: [{ clientId, clientSecret, scopes: Sandbox.allScopes }] }
      })).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.none)))
      const server = Context.get(context, SandboxServer.SandboxServer)
      const sandbox = Context.get(context, Sandbox.Sandbox)
      const namespace = Redis.namespace()
      yield* Effect.addFinalizer(() => Redis.dropNamespace(admin, namespace))
      const watch = yield* Redis.monitor(namespace)
      const redisProxy = yield* FaultProxy.make(Redis.redisTarget)
      const capture = Capture.make()
      const errors: Array<unknown> = []
      const revealed: Array<string> = [clientSecret]

      const run = Effect.gen(function*() {
        const instance = yield* Instance.build({
          baseUrl: server.url,
          client: { clientId, clientSecret: Redacted.make(clientSecret), maxRetries: 1, retryBaseDelay: "10 millis" },
          redis: {
            url: `redis://127.0.0.1:${redisProxy.port}`,
            namespace,
            timeout: "100 millis",
            generationTtl: "2 minutes",
            retrySchedule: Schedule.spaced("20 millis")
          }
        })
        const provide = <A, E>(effect: Effect.Effect<A, E, TinkClient.TinkClient>) => Effect.provide(effect, instance)
        // Some faulted operations may still succeed (a DELETE answered 200 with a garbage body).
        const collect = <A>(effect: Effect.Effect<A, TinkError.TinkError, TinkClient.TinkClient>) =>
          Effect.flatMap(Effect.either(provide(effect)), (result) =>
            Effect.sync(() => {
              if (result._tag === "Left") errors.push(result.left)
            }))

        // The whole lifecycle, every operation.
        const { userId } = yield* provide(Users.createUser({ market: "SE", externalUserId: "reliability-user" }))
        const grant = yield* provide(
          Users.createAuthorization({ userId, scope: "credentials:read,credentials:write,credentials:refresh" })
        )
        revealed.push(Redacted.value(grant.code))
        const token = yield* provide(Users.getUserAccessToken(grant.code))
        revealed.push(Redacted.value(token.accessToken))
        const credential = Ids.CredentialId.make((yield* sandbox.addCredential(userId)).id)
        const second = Ids.CredentialId.make((yield* sandbox.addCredential(userId)).id)
        const session = Users.asUser({ userId, accessToken: token.accessToken })
        const tokenOnly = Users.asUser({ accessToken: token.accessToken })
        yield* provide(session(Users.listCredentials()))
        yield* provide(session(Users.listCredentials()))
        yield* provide(tokenOnly(Users.listCredentials()))
        yield* provide(session(Users.getCredential(credential)))
        yield* provide(session(Users.refreshCredential(credential, { items: ["CHECKING_ACCOUNTS"] })))
        yield* provide(session(Users.deleteCredential(second)))
        const delegated = yield* provide(Users.createAuthorization({
          userId,
          scope: "credentials:read",
          idHint: "Jane Doe",
          actorClientId: "actor-1"
        }))
        revealed.push(Redacted.value(delegated.code))

        // Errors of every kind.
        yield* collect(Users.getUserAccessToken(grant.code)) // a used code: 400
        yield* collect(
          Users.asUser({ userId, accessToken: Redacted.make("bogus-token-0123456789") })(
            Users.listCredentials()
          )
        )
        for (
          const fault of [
            { _tag: "WrongShape" },
            { _tag: "MalformedJson" },
            { _tag: "Drop" },
            { _tag: "Truncated" },
            { _tag: "Status", status: 503 }
          ] as const
        ) {
          const code = yield* provide(Users.createAuthorization({ userId, scope: "credentials:read" }))
          revealed.push(Redacted.value(code.code))
          yield* sandbox.setFaults([{ path: "/api/v1/oauth/token", times: 1, fault }])
          yield* collect(Users.getUserAccessToken(code.code))
          yield* sandbox.setFaults([{ path: list, fault }])
          yield* collect(session(Users.listCredentials().pipe(ResponseCache.bypass)))
          yield* sandbox.setFaults([{ method: "DELETE", times: 1, fault }])
          yield* collect(session(Users.deleteCredential(credential)))
        }
        yield* sandbox.clearFaults

        // Redis goes away during a mutation: warnings are logged, the invalidation goes pending.
        yield* redisProxy.set({ _tag: "cut" })
        yield* provide(session(Users.listCredentials()))
        yield* provide(session(Users.refreshCredential(credential)).pipe(Effect.ignore))
        yield* redisProxy.set({ _tag: "open" })
        yield* provide(session(Users.listCredentials())).pipe(
          Effect.zipRight(Effect.provide(ResponseCache.stats, instance)),
          Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (stats) => stats.hits > 0 }),
          Effect.timeout("5 seconds")
        )

        // Deleting the user: its token is exchanged for a user:delete one by the library.
        yield* provide(Users.deleteUser(userId))
        yield* collect(session(Users.listCredentials()))
      }).pipe(
        Effect.withTracer(capture.tracer),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture.logger)),
        Logger.withMinimumLogLevel(LogLevel.All),
        Effect.scoped
      )
      yield* run

      // Every bearer token and code that crossed the wire, app tokens included.
      for (const request of yield* sandbox.requests) {
        const bearer = /^bearer\s+(\S+)/i.exec(request.headers["authorization"] ?? "")?.[1]
        if (bearer !== undefined) revealed.push(bearer)
        const form = new URLSearchParams(request.contentType?.includes("form") === true ? request.body : "")
        for (const name of ["code", "client_secret"]) {
          const value = form.get(name)
          if (value !== null) revealed.push(value)
        }
      }
      const secrets = Array.from(new Set(revealed)).filter((secret) => secret.length >= 16)

      const redis = (yield* watch.take).map((command) => command.join(" "))
      let cursor = "0"
      do {
        const [next, keys] = (yield* admin.send(["SCAN", cursor, "MATCH", `${namespace}:*`, "COUNT", "1000"])) as [
          string,
          Array<string>
        ]
        cursor = next
        for (const key of keys) redis.push(key, String(yield* admin.send(["GET", key])))
      } while (cursor !== "0")
      const metrics = Capture.metrics(yield* Metric.snapshot)

      const haystacks: Record<string, ReadonlyArray<string>> = {
        logs: capture.logs,
        spans: [...capture.spans, ...capture.openSpans()],
        metrics,
        errors: errors.map(Capture.renderError),
        redis
      }
      console.log(
        `secrets: ${secrets.length} secrets checked against ${
          Object.entries(haystacks).map(([name, lines]) => `${lines.length} ${name}`).join(", ")
        }; span names: ${Array.from(capture.spanNames).sort().join(", ")}`
      )
      assert.isAtLeast(secrets.length, 10, "client secret, app and user tokens, codes")
      assert.isAtLeast(errors.length, 12)
      assert.isAbove(capture.logs.length, 0)
      assert.isAbove(capture.spans.length, 0)
      assert.isAbove(redis.length, 0)
      for (const [name, lines] of Object.entries(haystacks)) {
        for (const line of lines) {
          for (const secret of secrets) {
            assert.notInclude(line, secret, `a secret in ${name}`)
          }
        }
      }
    }).pipe(Effect.scoped), 30_000)
})
