import { assert, describe, it } from "@effect/vitest"
import { TinkConfig } from "@tink-effect/core"
import { NodeTink } from "@tink-effect/platform-node"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { assertSafeConfigError, badRedisUrls } from "./utils/badRedisUrls.js"

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
      assert.strictEqual(TinkConfig.make(options.config).baseUrl, "https://api.tink.com")
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
})
