import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Queue, Redacted, Runtime } from "effect"
import { createHmac } from "node:crypto"
import { readFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Sandbox } from "../src/index.js"
import * as SandboxServer from "../src/SandboxServer.js"

// The sandbox's event sender, checked by a plain node:http receiver that verifies as Tink's
// webhook docs describe, with node:crypto: HMAC-SHA256(secret, `<t>.<raw body>`), hex, in `v1`.

const secret = "whsec-sandbox"

interface Received {
  readonly signature: string
  readonly body: string
}

/** A receiver on a free port for the test's scope; deliveries land in the queue. */
const receiver = Effect.gen(function*() {
  const deliveries = yield* Queue.unbounded<Received>()
  const runtime = yield* Effect.runtime<never>()
  const server = createServer((request, response) => {
    const parts: Array<Buffer> = []
    request.on("data", (part: Buffer) => parts.push(part))
    request.on("end", () => {
      Runtime.runSync(runtime)(deliveries.offer({
        signature: String(request.headers["x-tink-signature"] ?? ""),
        body: Buffer.concat(parts).toString("utf8")
      }))
      response.writeHead(204).end()
    })
  })
  yield* Effect.acquireRelease(
    Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
    () => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`, deliveries }
})

const verifies = (received: Received) => {
  const parts = Object.fromEntries(received.signature.split(",").map((p) => p.split("=") as [string, string]))
  const expected = createHmac("sha256", secret).update(`${parts.t}.${received.body}`).digest("hex")
  return parts.v1 === expected && Math.abs(Number(parts.t) - Date.now() / 1000) < 5
}

const control = (url: string, path: string, method: string, body?: unknown) =>
  Effect.promise(() =>
    fetch(`${url}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    }).then(async (r) => ({ status: r.status, text: await r.text() }))
  )

/** Tink's documented delivery (contract/tink/webhooks/webhooks.json): envelope and content fields. */
const documented = JSON.parse(
  readFileSync(new URL("../../../contract/tink/webhooks/webhooks.json", import.meta.url), "utf8")
)
const documentedShape = (event: { readonly content: Record<string, unknown> }) => {
  const example = documented.examples.find((e: { name: string }) => e.name === "message-structure").body
  assert.deepStrictEqual(Object.keys(event).sort(), Object.keys(example).sort(), "the envelope's keys")
  const fields: Array<{ name: string; required: boolean; values?: Array<string> }> =
    documented.refreshFinishedContentFields
  for (const key of Object.keys(event.content)) {
    assert.isTrue(fields.some((field) => field.name === key), `content.${key} is a documented field`)
  }
  for (const field of fields) {
    if (field.required) assert.property(event.content, field.name, `content.${field.name} is required`)
    const value = event.content[field.name]
    if (field.values !== undefined && value !== undefined && field.name === "source") {
      assert.include(field.values, value, `content.source takes a documented value`)
    }
  }
}

describe("the sandbox's Tink events", () => {
  it.scopedLive("signs a refresh:finished per Tink's scheme after a refresh settles and after a control change", () =>
    Effect.gen(function*() {
      const target = yield* receiver
      const context = yield* Layer.build(SandboxServer.layer({
        sandbox: { refreshStepMillis: 10 },
        webhook: { url: target.url, secret: Redacted.make(secret) }
      }))
      const { url } = Context.get(context, SandboxServer.SandboxServer)
      const sandbox = Context.get(context, Sandbox.Sandbox)
      const { userId } = yield* sandbox.createUser({})
      const token = yield* sandbox.issueUserToken(userId, ["credentials:read", "credentials:refresh"])

      const added = JSON.parse(
        (yield* control(url, "/__sandbox/credentials", "POST", { userId, status: "TEMPORARY_ERROR" })).text
      )
      const first = yield* Queue.take(target.deliveries)
      assert.isTrue(verifies(first))
      assert.deepInclude(JSON.parse(first.body), { event: "refresh:finished", context: { userId } })
      documentedShape(JSON.parse(first.body))
      assert.deepInclude(JSON.parse(first.body).content, {
        credentialsId: added.id,
        credentialsStatus: "TEMPORARY_ERROR"
      })

      const refreshed = yield* Effect.promise(() =>
        fetch(`${url}/api/v1/credentials/${added.id}/refresh`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}` }
        })
      )
      assert.strictEqual(refreshed.status, 204)
      const second = yield* Queue.take(target.deliveries)
      assert.isTrue(verifies(second))
      assert.deepInclude(JSON.parse(second.body).content, { credentialsId: added.id, credentialsStatus: "UPDATED" })
    }))

  it.scopedLive("registers an endpoint over the control API, refuses a bad one, and stops after DELETE", () =>
    Effect.gen(function*() {
      const target = yield* receiver
      const context = yield* Layer.build(SandboxServer.layer())
      const { url } = Context.get(context, SandboxServer.SandboxServer)
      const sandbox = Context.get(context, Sandbox.Sandbox)
      const { userId } = yield* sandbox.createUser({})
      const path = SandboxServer.webhookEndpointPath

      assert.strictEqual((yield* control(url, path, "PUT", { url: "not a url", secret })).status, 400)
      assert.strictEqual((yield* control(url, path, "PUT", { url: target.url, secret: "" })).status, 400)
      // Nothing registered: a change sends nothing.
      yield* control(url, "/__sandbox/credentials", "POST", { userId })
      assert.strictEqual((yield* control(url, path, "PUT", { url: target.url, secret })).status, 204)
      yield* control(url, "/__sandbox/credentials", "POST", { userId })
      assert.isTrue(verifies(yield* Queue.take(target.deliveries)))
      assert.strictEqual((yield* control(url, path, "DELETE")).status, 204)
      yield* control(url, "/__sandbox/credentials", "POST", { userId })
      // One more registered change proves the unregistered one before it sent nothing.
      yield* control(url, path, "PUT", { url: target.url, secret })
      const last = JSON.parse((yield* control(url, "/__sandbox/credentials", "POST", { userId })).text)
      const next = yield* Queue.take(target.deliveries)
      assert.strictEqual(JSON.parse(next.body).content.credentialsId, last.id)
      assert.strictEqual(yield* Queue.size(target.deliveries), 0)
    }))
})
