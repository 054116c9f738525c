/**
 * The README's Troubleshooting section shows each error exactly as a user sees it (issue 13.6):
 * this test produces every one through the public API, over real sockets (`NodeTink` over undici,
 * the sandbox served on 127.0.0.1, Redis), and compares its message with the README's text. Every
 * entry in the section has a scenario here and every scenario an entry, so neither drifts.
 */
import { assert, describe, it } from "@effect/vitest"
import { TinkError } from "@tink-effect/core"
import { NodeTink, RedisResponseStore } from "@tink-effect/platform-node"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import { Ids, Users } from "@tink-effect/users"
import { Context, Deferred, Effect, Exit, Layer, Logger, Redacted } from "effect"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../../", import.meta.url))

/** The entries of the README's troubleshooting section: name, and the message shown. */
const entries = (): ReadonlyMap<string, string> => {
  const readme = readFileSync(`${root}README.md`, "utf8")
  const section = /<!-- troubleshooting:begin -->\n([\s\S]*?)<!-- troubleshooting:end -->/.exec(readme)
  assert.isNotNull(section, "README has a troubleshooting section")
  const found = new Map<string, string>()
  for (const [, name, text] of section![1].matchAll(/<!-- troubleshooting:([a-z-]+) -->\n```text\n([^\n]*)\n```/g)) {
    assert.isFalse(found.has(name!), `one entry named ${name}`)
    found.set(name!, text!)
  }
  return found
}

/**
 * Tink (and the sandbox) put a fresh request id on every answer; the README shows this one in its
 * place. The real id must be in the message, where the README shows the example.
 */
const exampleRequestId = "7d1e4b9a0c3f"
const withExampleId = (message: string, requestId: string | undefined): string => {
  if (requestId === undefined) return message
  assert.include(message, `, request id ${requestId}`)
  return message.replace(`, request id ${requestId}`, `, request id ${exampleRequestId}`)
}

const sandboxSecret = "sandbox-secret"
/** An app Tink Console allows to grant and read users, but not to create or delete them. */
const limitedApp = { clientId: "limited-app", clientSecret: "limited-app-secret", scopes: ["authorization:grant"] }

/** The sandbox on a port, and the Node client for `clientId`/`clientSecret` against any base URL. */
const setup = Effect.gen(function*() {
  const context = yield* Layer.build(SandboxServer.layer({
    sandbox: {
      clients: [{ clientId: "sandbox-client", clientSecret: sandboxSecret, scopes: Sandbox.allScopes }, limitedApp]
    }
  }))
  const server = Context.get(context, SandboxServer.SandboxServer)
  const sandbox = Context.get(context, Sandbox.Sandbox)
  const client = (options: { readonly clientId?: string; readonly clientSecret?: string; readonly baseUrl?: string }) =>
    NodeTink.layer({
      config: {
        clientId: options.clientId ?? "sandbox-client",
        clientSecret: Redacted.make(options.clientSecret ?? sandboxSecret),
        baseUrl: options.baseUrl ?? server.url,
        // The message is the same after retries; without them the test does not wait on backoff.
        maxRetries: 0
      }
    })
  const user = Effect.map(sandbox.createUser({ market: "SE" }), ({ userId }) => Ids.UserId.make(userId))
  return { sandbox, client, user }
})

type Setup = Effect.Effect.Success<typeof setup>

/** Each scenario: what a user does wrong, through the public API, giving the error's message. */
const scenarios: Record<string, (t: Setup) => Effect.Effect<Outcome>> = {
  "app-credentials-rejected": (t) =>
    Users.createUser({ market: "SE" }).pipe(Effect.provide(t.client({ clientSecret: "a-wrong-secret" })), failure),
  "app-scope-refused": (t) => Users.createUser({ market: "SE" }).pipe(Effect.provide(t.client(limitedApp)), failure),
  "grant-refused": (t) =>
    Effect.flatMap(t.user, (userId) => Users.deleteUser(userId)).pipe(Effect.provide(t.client(limitedApp)), failure),
  "invalid-token": (t) =>
    Effect.flatMap(t.user, (userId) =>
      Users.listCredentials().pipe(
        Users.asUser({ userId, accessToken: Redacted.make("an-expired-user-token") }),
        Effect.provide(t.client({})),
        failure
      )),
  "insufficient-scope": (t) =>
    Effect.gen(function*() {
      const userId = yield* t.user
      const token = Redacted.make(yield* t.sandbox.issueUserToken(userId, ["user:read"]))
      return yield* Users.listCredentials().pipe(
        Users.asUser({ userId, accessToken: token }),
        Effect.provide(t.client({})),
        failure
      )
    }),
  "session-mismatch": (t) =>
    Effect.gen(function*() {
      const a = yield* t.user
      const b = yield* t.user
      yield* t.sandbox.addCredential(b)
      const tokenOfB = Redacted.make(yield* t.sandbox.issueUserToken(b, ["credentials:read"]))
      return yield* Users.listCredentials().pipe(
        Users.asUser({ userId: a, accessToken: tokenOfB }),
        Effect.provide(t.client({})),
        failure
      )
    }),
  "connection-refused": (t) =>
    Users.createUser({ market: "SE" }).pipe(Effect.provide(t.client({ baseUrl: "http://127.0.0.1:1" })), failure),
  "host-not-found": (t) =>
    Users.createUser({ market: "SE" }).pipe(Effect.provide(t.client({ baseUrl: "https://tink.invalid" })), failure),
  "redis-not-reachable": () =>
    Effect.gen(function*() {
      const logged = yield* Deferred.make<string>()
      const logger = Logger.make(({ message }) => {
        const text = Array.isArray(message) ? message.join(" ") : String(message)
        if (text.includes("Redis")) Deferred.unsafeDone(logged, Exit.succeed(text))
      })
      yield* RedisResponseStore.make({ url: Redacted.make("redis://default:hunter2@127.0.0.1:1") }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Effect.scoped,
        Effect.orDie
      )
      return { message: yield* Deferred.await(logged) }
    })
}

/** What a user sees, and for a refusal its `reason`: the field a handler reads instead of `status`. */
interface Outcome {
  readonly message: string
  readonly reason?: TinkError.AuthenticationReason | undefined
}

/** The entries whose error is a `TinkAuthenticationError`, by the reason each must carry. */
const reasons: Readonly<Record<string, TinkError.AuthenticationReason>> = {
  "app-credentials-rejected": "app-credentials-rejected",
  "grant-refused": "grant-refused",
  "invalid-token": "invalid-token",
  "insufficient-scope": "insufficient-scope",
  "session-mismatch": "session-mismatch"
}

/** The error the effect fails with, as the user sees it; succeeding is a test failure. */
function failure<A, E>(effect: Effect.Effect<A, E>): Effect.Effect<Outcome> {
  return Effect.flatMap(Effect.either(effect), (result) => {
    if (result._tag === "Right") return Effect.dieMessage("expected a failure")
    const error = result.left
    if (!TinkError.isTinkError(error)) return Effect.dieMessage(`not a TinkError: ${String(error)}`)
    return Effect.succeed({
      message: withExampleId(error.message, error.requestId),
      reason: error._tag === "TinkAuthenticationError" ? error.reason : undefined
    })
  })
}

describe("README troubleshooting", () => {
  it("lists exactly the scenarios this test produces", () => {
    assert.deepStrictEqual([...entries().keys()].sort(), Object.keys(scenarios).sort())
  })

  it.scopedLive.each(Object.keys(scenarios))("%s: the message is the README's", (name) =>
    Effect.gen(function*() {
      const t = yield* setup
      const { message, reason } = yield* scenarios[name]!(t)
      assert.strictEqual(message, entries().get(name), `README entry ${name}`)
      assert.strictEqual(reason, reasons[name])
    }))
})
