/**
 * Tink's events, end to end over real sockets: the sandbox server sends a signed `refresh:finished`
 * to a receiver mounted on an `HttpRouter` (instance A's `TinkWebhooks.httpApp`), which invalidates
 * the user's scope in the Redis store A and B share, so the next read on both is fresh.
 */
import { HttpRouter, HttpServer } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, it } from "@effect/vitest"
import { TinkWebhooks } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import { Ids, Users } from "@tink-effect/users"
import { Context, Effect, Layer, Queue, Redacted, Schedule } from "effect"
import { createServer } from "node:http"
import * as Instance from "./utils/instance.js"
import * as Redis from "./utils/redis.js"

const secret = Redacted.make("whsec-sandbox-test")
const list = "/api/v1/credentials/list"

const instance = (baseUrl: string, namespace: string) =>
  Instance.build({
    baseUrl,
    redis: { url: Redis.redisUrl, namespace, timeout: "250 millis", retrySchedule: Schedule.spaced("20 millis") }
  })

/** Serves `app` on a free loopback port for the test's scope; returns its base URL. */
const serve = (app: HttpRouter.HttpRouter) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
    const server = Context.get(context, HttpServer.HttpServer)
    yield* HttpServer.serveEffect(app).pipe(Effect.provideService(HttpServer.HttpServer, server))
    return `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`
  })

const post = (url: string, init: { method?: string; headers?: Record<string, string>; body?: string }) =>
  Effect.promise(async () => {
    const response = await fetch(url, { method: init.method ?? "POST", ...init })
    return { status: response.status, text: await response.text() }
  })

const setup = (status: string) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(SandboxServer.layer({ sandbox: { refreshStepMillis: 20 } }))
    const server = Context.get(context, SandboxServer.SandboxServer)
    const sandbox = Context.get(context, Sandbox.Sandbox)
    const userId = Ids.UserId.make((yield* sandbox.createUser({})).userId)
    const credential = yield* sandbox.addCredential(userId, { status })
    const token = yield* sandbox.issueUserToken(userId, ["credentials:read", "credentials:refresh"])
    const namespace = Redis.namespace()
    const a = yield* instance(server.url, namespace)
    const b = yield* instance(server.url, namespace)

    // Instance A receives the events; each answer is queued so the test waits for it, not for time.
    const webhooks = yield* Effect.provide(TinkWebhooks.make({ secret }), a)
    const answers = yield* Queue.unbounded<number>()
    const receiver = yield* serve(
      HttpRouter.empty.pipe(
        HttpRouter.post("/webhooks/tink", Effect.tap(webhooks.httpApp, (response) => answers.offer(response.status)))
      )
    )
    const webhookUrl = `${receiver}/webhooks/tink`
    const registered = yield* post(`${server.url}${SandboxServer.webhookEndpointPath}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ url: webhookUrl, secret: Redacted.value(secret) })
    })
    assert.strictEqual(registered.status, 204)

    const asUser = Users.asUser({ userId, accessToken: Redacted.make(token) })
    const listed = (on: Instance.Instance) => asUser(Users.listCredentials()).pipe(Effect.provide(on))
    return { server, sandbox, userId, credential, token, a, b, listed, answers, webhookUrl }
  })

describe("Tink events from the sandbox, over real sockets, two instances sharing Redis", () => {
  it.scopedLive("a credential added through the sandbox's control API: the next read is fresh on both instances", () =>
    Effect.gen(function*() {
      const t = yield* setup("UPDATED")
      assert.strictEqual((yield* t.listed(t.a)).length, 1)
      assert.strictEqual((yield* t.listed(t.b)).length, 1)
      const reads = yield* t.sandbox.requestCount("GET", list)
      // Cached: without an event, neither instance asks again for 30 s.
      assert.strictEqual((yield* t.listed(t.b)).length, 1)
      assert.strictEqual(yield* t.sandbox.requestCount("GET", list), reads)

      const added = yield* post(`${t.server.url}${SandboxServer.controlPrefix}/credentials`, {
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ userId: t.userId })
      })
      assert.strictEqual(added.status, 201)
      assert.strictEqual(yield* Queue.take(t.answers), 204)

      assert.strictEqual((yield* t.listed(t.a)).length, 2)
      assert.strictEqual((yield* t.listed(t.b)).length, 2)
    }))

  it.scopedLive("a refresh made outside the library: when it settles, both instances read the new status", () =>
    Effect.gen(function*() {
      const t = yield* setup("TEMPORARY_ERROR")
      assert.deepStrictEqual((yield* t.listed(t.a)).map((c) => c.status), ["TEMPORARY_ERROR"])
      assert.deepStrictEqual((yield* t.listed(t.b)).map((c) => c.status), ["TEMPORARY_ERROR"])

      // Another service (or Tink's own schedule) refreshes: this library sees no mutation.
      const refreshed = yield* post(`${t.server.url}/api/v1/credentials/${t.credential.id}/refresh`, {
        headers: { authorization: `Bearer ${t.token}` }
      })
      assert.strictEqual(refreshed.status, 204)
      assert.strictEqual(yield* Queue.take(t.answers), 204)

      assert.deepStrictEqual((yield* t.listed(t.a)).map((c) => c.status), ["UPDATED"])
      assert.deepStrictEqual((yield* t.listed(t.b)).map((c) => c.status), ["UPDATED"])
    }))

  it.scopedLive("a forged, stale or oversized delivery is refused (401/400, reason only) and changes nothing", () =>
    Effect.gen(function*() {
      const t = yield* setup("UPDATED")
      yield* t.listed(t.a)
      yield* t.listed(t.b)
      const reads = yield* t.sandbox.requestCount("GET", list)
      const body = JSON.stringify({
        context: { userId: t.userId },
        content: { credentialsId: t.credential.id, credentialsStatus: "UPDATED", finished: Date.now() },
        event: "refresh:finished"
      })
      const nowSeconds = Math.floor(Date.now() / 1000)
      const deliveries: ReadonlyArray<readonly [Record<string, string>, string, number, string]> = [
        [{}, body, 401, "MissingSignature"],
        [{ "x-tink-signature": `t=${nowSeconds},v1=${"ab".repeat(32)}` }, body, 401, "InvalidSignature"],
        [{ "x-tink-signature": `v1=${"ab".repeat(32)}` }, body, 401, "MalformedSignature"],
        [{ "x-tink-signature": TinkWebhooks.sign(secret, nowSeconds - 3600, body) }, body, 401, "StaleTimestamp"],
        [{ "x-tink-signature": TinkWebhooks.sign(secret, nowSeconds, "{") }, "{", 400, "MalformedBody"],
        [{}, "x".repeat(1024 * 1024 + 1), 400, "BodyTooLarge"]
      ]
      for (const [headers, payload, status, reason] of deliveries) {
        const answer = yield* post(t.webhookUrl, {
          headers: { "content-type": "application/json", ...headers },
          body: payload
        })
        assert.strictEqual(answer.status, status, reason)
        assert.deepStrictEqual(JSON.parse(answer.text), { error: reason })
        assert.notInclude(answer.text, Redacted.value(secret))
        yield* Queue.take(t.answers)
      }
      yield* t.listed(t.a)
      yield* t.listed(t.b)
      assert.strictEqual(yield* t.sandbox.requestCount("GET", list), reads)
    }))
})
