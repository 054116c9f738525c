import { assert, describe, it } from "@effect/vitest"
import { ResponseCache, TinkClient } from "@tink-effect/core"
import { NodeTink } from "@tink-effect/platform-node"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxClient from "@tink-effect/sandbox/SandboxClient"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import { Users } from "@tink-effect/users"
import { ConfigProvider, Duration, Effect, Layer, Redacted } from "effect"
import { assertSafeConfigError, badRedisUrls, password } from "./utils/badRedisUrls.js"

const fromEnv = (env: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))

describe("NodeTink configuration from the environment", () => {
  it.effect("a malformed TINK_REDIS_URL is a ConfigError naming it, never quoting the URL or its password", () =>
    Effect.gen(function*() {
      for (const url of badRedisUrls) {
        const error = yield* Layer.build(NodeTink.layerEnv).pipe(
          Effect.provide(fromEnv({ TINK_CLIENT_ID: "app", TINK_CLIENT_SECRET: "secret", TINK_REDIS_URL: url })),
          Effect.scoped,
          Effect.flip
        )
        assertSafeConfigError(error, "TINK_REDIS_URL")
      }
    }))

  it.effect("NodeTink.layer with a malformed Redis URL fails with a safe ConfigError", () =>
    Effect.gen(function*() {
      for (const url of badRedisUrls) {
        const error = yield* Layer.build(NodeTink.layer({
          config: { clientId: "app", clientSecret: Redacted.make("secret") },
          redis: { url: Redacted.make(url) }
        })).pipe(Effect.scoped, Effect.flip)
        assertSafeConfigError(error, "url")
      }
    }))

  it.effect("a missing variable is a ConfigError naming it, and the secret is never echoed", () =>
    Effect.gen(function*() {
      const secret = "s3cr3t-value-that-must-not-leak"
      const error = yield* Layer.build(NodeTink.layerEnv).pipe(
        Effect.provide(fromEnv({ TINK_CLIENT_SECRET: secret })),
        Effect.scoped,
        Effect.flip
      )
      assert.include(String(error), "TINK_CLIENT_ID")
      assert.notInclude(String(error), secret)
      assert.notInclude(JSON.stringify(error), secret)
      const noSecret = yield* Layer.build(NodeTink.layerEnv).pipe(
        Effect.provide(fromEnv({ TINK_CLIENT_ID: "app" })),
        Effect.scoped,
        Effect.flip
      )
      assert.include(String(noSecret), "TINK_CLIENT_SECRET")
    }))

  it.effect("reads the id, the secret as Redacted, the base URL default, and no Redis by default", () =>
    Effect.gen(function*() {
      const secret = "another-secret"
      const options = yield* NodeTink.fromEnv.pipe(
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["TINK_CLIENT_ID", "app"], ["TINK_CLIENT_SECRET", secret]]), {
            pathDelim: "_"
          })
        )
      )
      assert.strictEqual(options.config.clientId, "app")
      assert.isTrue(Redacted.isRedacted(options.config.clientSecret))
      assert.strictEqual(Redacted.value(options.config.clientSecret), secret)
      assert.notInclude(String(options.config.clientSecret), secret)
      assert.strictEqual(options.config.baseUrl, "https://api.tink.com")
      assert.isUndefined(options.redis)
    }))

  it.effect("TINK_REDIS_URL selects the Redis cache and stays Redacted (it may hold a password)", () =>
    Effect.gen(function*() {
      const options = yield* NodeTink.fromEnv.pipe(
        Effect.withConfigProvider(
          ConfigProvider.fromMap(
            new Map([
              ["TINK_CLIENT_ID", "app"],
              ["TINK_CLIENT_SECRET", "x"],
              ["TINK_REDIS_URL", "redis://:pw@127.0.0.1:6379"]
            ]),
            { pathDelim: "_" }
          )
        )
      )
      assert.isDefined(options.redis)
      assert.notInclude(String(options.redis!.url), "pw")
    }))

  const loadEnv = (env: Record<string, string>) =>
    NodeTink.fromEnv.pipe(
      Effect.withConfigProvider(
        ConfigProvider.fromMap(new Map(Object.entries({ TINK_CLIENT_ID: "app", TINK_CLIENT_SECRET: "x", ...env })), {
          pathDelim: "_"
        })
      )
    )

  it.effect("TINK_REDIS_CLUSTER_NODES selects a Redis Cluster; its seed URLs stay Redacted", () =>
    Effect.gen(function*() {
      const options = yield* loadEnv({
        TINK_REDIS_CLUSTER_NODES: `redis://:${password}@10.0.0.1:6379, redis://:${password}@10.0.0.2:6379`,
        TINK_REDIS_NAMESPACE: "shop"
      })
      const nodes = options.redis?.cluster?.nodes ?? []
      assert.deepStrictEqual(
        nodes.map((node) => Redacted.isRedacted(node) ? Redacted.value(node) : node),
        [`redis://:${password}@10.0.0.1:6379`, `redis://:${password}@10.0.0.2:6379`]
      )
      assert.isUndefined(options.redis?.url)
      assert.strictEqual(options.redis?.namespace, "shop")
      assert.notInclude(String(nodes), password)
    }))

  it.effect("TINK_REDIS_URL and TINK_REDIS_CLUSTER_NODES together are a ConfigError, never quoting either", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(loadEnv({
        TINK_REDIS_URL: `redis://:${password}@127.0.0.1:6379`,
        TINK_REDIS_CLUSTER_NODES: `redis://:${password}@127.0.0.1:7000`
      }))
      assertSafeConfigError(error, "TINK_REDIS_CLUSTER_NODES")
      assert.include(String(error), "not both")
    }))

  it.effect.each(
    [
      ["TINK_BASE_URL", "tink.example"],
      ["TINK_BASE_URL", `https://app:${password}@tink.example`],
      ["TINK_REDIS_URL", `redis://:${password}@127.0.0.1:99999`],
      ["TINK_REDIS_CLUSTER_NODES", `redis://:${password}@127.0.0.1:7000,http://:${password}@127.0.0.1:7001`],
      ["TINK_REDIS_CLUSTER_NODES", " , "],
      ["TINK_REDIS_NAMESPACE", "tink{shared}"],
      ["TINK_REDIS_NAMESPACE", ""],
      ["TINK_REQUEST_TIMEOUT", "soon"],
      ["TINK_REQUEST_TIMEOUT", "0"],
      ["TINK_MAX_RETRIES", "-1"],
      ["TINK_MAX_RETRIES", "three"]
    ] as const
  )(
    "a malformed %s (%j) fails NodeTink.layerEnv with a ConfigError naming it, never quoting it",
    ([name, value]) =>
      Effect.gen(function*() {
        const env = {
          TINK_CLIENT_ID: "app",
          TINK_CLIENT_SECRET: "secret",
          TINK_REDIS_URL: "redis://127.0.0.1:6379",
          [name]: value
        }
        const error = yield* Layer.build(NodeTink.layerEnv).pipe(
          Effect.provide(fromEnv(env)),
          Effect.scoped,
          Effect.flip
        )
        assertSafeConfigError(error, name)
        if (value.length > 2) assert.notInclude(String(error), value)
      })
  )

  it.effect("reads TINK_REQUEST_TIMEOUT, TINK_MAX_RETRIES and TINK_REDIS_NAMESPACE; unset: the defaults", () =>
    Effect.gen(function*() {
      const load = (env: Record<string, string>) =>
        NodeTink.fromEnv.pipe(
          Effect.withConfigProvider(
            ConfigProvider.fromMap(
              new Map(Object.entries({ TINK_CLIENT_ID: "app", TINK_CLIENT_SECRET: "x", ...env })),
              {
                pathDelim: "_"
              }
            )
          )
        )
      const set = yield* load({
        TINK_REQUEST_TIMEOUT: "2 seconds",
        TINK_MAX_RETRIES: "1",
        TINK_REDIS_URL: "redis://127.0.0.1:6379",
        TINK_REDIS_NAMESPACE: "billing:tink"
      })
      assert.isTrue(Duration.equals(Duration.decode(set.config.requestTimeout!), Duration.seconds(2)))
      assert.strictEqual(set.config.maxRetries, 1)
      assert.strictEqual(set.redis?.namespace, "billing:tink")
      const unset = yield* load({ TINK_REDIS_URL: "redis://127.0.0.1:6379" })
      assert.isUndefined(unset.config.requestTimeout)
      assert.isUndefined(unset.config.maxRetries)
      assert.isUndefined(unset.redis?.namespace)
    }))
})

describe("NodeTink.layerSandbox: the Node client against a sandbox served on a port", () => {
  it.live("seeded data is read over a real socket, with the sandbox's credentials filled in", () =>
    Effect.gen(function*() {
      const server = yield* SandboxServer.SandboxServer
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      const user = yield* SandboxClient.seedUser({ credentials: 2 })
      assert.lengthOf(yield* Users.listCredentials().pipe(Users.asUser(user)), 2)
      // App-token operations work too: the client holds the sandbox's app credentials.
      const created = yield* Users.createUser({ market: "SE" })
      const sandbox = yield* Sandbox.Sandbox
      assert.isTrue(yield* sandbox.userExists(created.userId))
      const requests = yield* sandbox.requests
      assert.isTrue(requests.every((request) => request.headers["user-agent"]?.startsWith("tink-effect/")))
      assert.strictEqual((yield* ResponseCache.stats).misses, 1)
    }).pipe(Effect.provide(NodeTink.layerSandbox())))

  it.live("options reach the sandbox (its client) and the client (its retries)", () =>
    Effect.gen(function*() {
      yield* Users.createUser({ market: "SE" })
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* SandboxClient.seedUser()
      yield* sandbox.setFaults([{ path: "/api/v1/credentials/list", fault: { _tag: "Status", status: 503 } }])
      const error = yield* Effect.flip(Users.listCredentials().pipe(Users.asUser(user)))
      assert.strictEqual(error._tag, "TinkApiError")
      assert.strictEqual(yield* sandbox.requestCount("GET", "/api/v1/credentials/list"), 1)
      yield* TinkClient.TinkClient
    }).pipe(Effect.provide(NodeTink.layerSandbox({
      server: {
        sandbox: { clients: [{ clientId: "dev-app", clientSecret: "dev-secret", scopes: Sandbox.allScopes }] }
      },
      config: { maxRetries: 0 }
    }))))
})
