import { HttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { AccessToken, ResponseCache, TinkClient, TinkError, TinkUser } from "@tink-effect/core"
import {
  Config,
  ConfigError,
  ConfigProvider,
  Duration,
  Effect,
  Fiber,
  Layer,
  Option,
  Redacted,
  Schema,
  TestClock
} from "effect"
import { clientLayer, scripted, secret, tokenAnswer, withClock } from "./utils/scripted.js"

const ok = { status: 200, body: {} }

const dependencies = (transport: HttpClient.HttpClient) =>
  Layer.mergeAll(Layer.succeed(HttpClient.HttpClient, transport), ResponseCache.layerMemory({ capacity: 10 }))

/** Builds a client layer and returns why it failed. */
const failure = <E>(
  layer: Layer.Layer<TinkClient.TinkClient, E, HttpClient.HttpClient | ResponseCache.ResponseCache>
) => Layer.build(layer.pipe(Layer.provide(dependencies(scripted(() => ok).client)))).pipe(Effect.scoped, Effect.flip)

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const valid: TinkClient.Options = { clientId: "app", clientSecret: Redacted.make(secret) }

describe("TinkClient options", () => {
  it.effect.each(
    [
      ["baseUrl", "not a url", "not a url"],
      ["baseUrl", "ftp://tink.test", "ftp"],
      ["baseUrl", "https://user:hunter2@tink.test", "hunter2"],
      ["baseUrl", "https://tink.test/?token=abc", "token=abc"],
      ["requestTimeout", "soon", "soon"],
      ["requestTimeout", 0, undefined],
      ["maxRetries", -1, undefined],
      ["maxRetries", 1.5, undefined],
      ["maxRetries", Number.NaN, undefined],
      ["retryBaseDelay", "a while", "a while"],
      ["maxRetryDelay", Number.POSITIVE_INFINITY, undefined],
      ["cacheTtl", { acounts: "1 minute" }, undefined],
      ["cacheTtl", { accounts: "forever" }, "forever"],
      ["clientId", "", undefined],
      ["clientSecret", Redacted.make(""), undefined],
      ["tracePropagation", "yes", undefined]
    ] as const
  )(
    "a bad %s (%s) is a ConfigError naming the option, never quoting the value",
    ([field, value, text]) =>
      Effect.gen(function*() {
        const error = yield* failure(TinkClient.layer({ ...valid, [field]: value }))
        assert.isTrue(ConfigError.isConfigError(error))
        assert.include(String(error), field)
        if (text !== undefined) assert.notInclude(String(error), text)
        assert.notInclude(String(error), secret)
      })
  )

  it.effect("layerConfig: a bad value is a ConfigError naming the variable it came from, not the value", () =>
    Effect.gen(function*() {
      const env = { TINK_CLIENT_ID: "app", TINK_CLIENT_SECRET: secret, TINK_BASE_URL: "https://u:hunter2@tink.test" }
      for (
        const [baseUrl, name] of [
          [Config.string("TINK_BASE_URL"), "TINK_BASE_URL"],
          [Config.string("TINK_BASE_URL").pipe(Config.withDefault("https://api.tink.com")), "TINK_BASE_URL"],
          [Config.nested(Config.string("URL").pipe(Config.withDefault("")), "TINK_BASE"), "TINK_BASE.URL"]
        ] as const
      ) {
        const error = yield* failure(TinkClient.layerConfig({ ...TinkClient.envConfig, baseUrl })).pipe(
          withEnv({ ...env, "TINK_BASE.URL": env.TINK_BASE_URL })
        )
        assert.isTrue(ConfigError.isConfigError(error))
        assert.include(String(error), `at ${name}:`)
        assert.include(String(error), "baseUrl")
        assert.notInclude(String(error), "hunter2")
      }
      const loaded = yield* Effect.flip(TinkClient.optionsFromConfig(TinkClient.envConfig)).pipe(withEnv(env))
      assert.include(String(loaded), "at TINK_BASE_URL:")
      assert.notInclude(String(loaded), "hunter2")
      const retries = yield* failure(
        TinkClient.layerConfig({ ...TinkClient.envConfig, maxRetries: Config.integer("TINK_MAX_RETRIES") })
      ).pipe(withEnv({ ...env, TINK_BASE_URL: "https://tink.test", TINK_MAX_RETRIES: "-2" }))
      assert.include(String(retries), "TINK_MAX_RETRIES")
    }))

  it.effect.each(
    [
      ["TINK_REQUEST_TIMEOUT", "soon"],
      ["TINK_REQUEST_TIMEOUT", "5 fortnights"],
      ["TINK_REQUEST_TIMEOUT", "0"],
      ["TINK_REQUEST_TIMEOUT", "-5 seconds"],
      ["TINK_REQUEST_TIMEOUT", "Infinity"],
      ["TINK_MAX_RETRIES", "three"],
      ["TINK_MAX_RETRIES", "-1"],
      ["TINK_MAX_RETRIES", "1.5"],
      ["TINK_MAX_RETRIES", "99999999999999999999"],
      ["TINK_BASE_URL", "tink.example"]
    ] as const
  )(
    "envConfig: a malformed %s (%s) is a ConfigError naming it, never quoting the value",
    ([name, value]) =>
      Effect.gen(function*() {
        const env = { TINK_CLIENT_ID: "app", TINK_CLIENT_SECRET: secret, [name]: value }
        const error = yield* failure(TinkClient.layerConfig(TinkClient.envConfig)).pipe(withEnv(env))
        assert.isTrue(ConfigError.isConfigError(error))
        assert.include(String(error), `at ${name}:`)
        if (value.length > 2) assert.notInclude(String(error), value)
        assert.notInclude(String(error), secret)
      })
  )

  it.effect("envConfig: TINK_REQUEST_TIMEOUT in milliseconds or as a duration, TINK_MAX_RETRIES; unset: the defaults", () =>
    Effect.gen(function*() {
      const base = { TINK_CLIENT_ID: "app", TINK_CLIENT_SECRET: secret }
      const load = (env: Record<string, string>) =>
        TinkClient.optionsFromConfig(TinkClient.envConfig).pipe(withEnv({ ...base, ...env }))
      const millis = yield* load({ TINK_REQUEST_TIMEOUT: "2500", TINK_MAX_RETRIES: "0" })
      assert.isTrue(Duration.equals(Duration.decode(millis.requestTimeout!), Duration.millis(2500)))
      assert.strictEqual(millis.maxRetries, 0)
      const text = yield* load({ TINK_REQUEST_TIMEOUT: " 5 seconds ", TINK_MAX_RETRIES: "7" })
      assert.isTrue(Duration.equals(Duration.decode(text.requestTimeout!), Duration.seconds(5)))
      assert.strictEqual(text.maxRetries, 7)
      const unset = yield* load({})
      assert.isUndefined(unset.requestTimeout)
      assert.isUndefined(unset.maxRetries)
    }))

  it.effect("envConfig: the client runs with TINK_MAX_RETRIES and TINK_REQUEST_TIMEOUT", () =>
    Effect.gen(function*() {
      const tink = scripted(() => "hang")
      const read = Effect.flatMap(
        TinkClient.TinkClient,
        (client) => client.get("/api/v1/providers", { auth: TinkClient.noAuth, schema: Schema.Unknown })
      )
      const fiber = yield* Effect.fork(read.pipe(
        Effect.provide(TinkClient.layerConfig(TinkClient.envConfig).pipe(Layer.provide(dependencies(tink.client)))),
        withEnv({
          TINK_CLIENT_ID: "app",
          TINK_CLIENT_SECRET: secret,
          TINK_REQUEST_TIMEOUT: "2500",
          TINK_MAX_RETRIES: "0"
        })
      ))
      yield* TestClock.adjust("2499 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 millis")
      assert.strictEqual((yield* Effect.flip(Fiber.join(fiber)))._tag, "TinkTimeoutError")
      assert.strictEqual(tink.sent.length, 1, "no retry")
    }))

  it.effect("layerConfig: a missing variable is named; the secret is never echoed", () =>
    Effect.gen(function*() {
      const noSecret = yield* failure(TinkClient.layerConfig(TinkClient.envConfig)).pipe(
        withEnv({ TINK_CLIENT_ID: "app" })
      )
      assert.include(String(noSecret), "TINK_CLIENT_SECRET")
      const noId = yield* failure(TinkClient.layerConfig(TinkClient.envConfig)).pipe(
        withEnv({ TINK_CLIENT_SECRET: secret })
      )
      assert.include(String(noId), "TINK_CLIENT_ID")
      assert.notInclude(String(noId), secret)
    }))

  it.effect("layerConfig: the client uses the configured base URL, a trailing slash dropped", () =>
    Effect.gen(function*() {
      const tink = scripted(() => ok)
      yield* Effect.flatMap(
        TinkClient.TinkClient,
        (client) => client.get("/api/v1/providers", { auth: TinkClient.noAuth, schema: Schema.Unknown })
      ).pipe(
        Effect.provide(TinkClient.layerConfig(TinkClient.envConfig).pipe(Layer.provide(dependencies(tink.client)))),
        withEnv({ TINK_CLIENT_ID: "app", TINK_CLIENT_SECRET: secret, TINK_BASE_URL: "http://tink.test/base/" })
      )
      assert.deepStrictEqual(tink.sent.map((sent) => sent.path), ["/base/api/v1/providers"])
    }))
})

/** Every value reachable from the service through plain data (not through closures). */
const reachable = (root: unknown): Array<unknown> => {
  const seen = new Set<unknown>()
  const pending = [root]
  while (pending.length > 0) {
    const value = pending.pop()
    if (seen.has(value)) continue
    seen.add(value)
    if (typeof value === "object" && value !== null) pending.push(...Object.values(value))
  }
  return Array.from(seen)
}

describe("the client secret stays inside the client", () => {
  it.effect("the service holds no configuration: neither the secret nor a Redacted is reachable from it", () =>
    Effect.gen(function*() {
      const client = yield* TinkClient.TinkClient
      assert.notProperty(client, "config")
      for (const value of reachable(client)) {
        assert.isFalse(Redacted.isRedacted(value))
        assert.notStrictEqual(value, secret)
      }
    }).pipe(Effect.provide(clientLayer(scripted(() => ok).client))))

  it.effect("client-secret auth puts the app's id and secret in the form body; a caller cannot replace them", () => {
    const tink = scripted((sent) => sent.form.get("grant_type") === "authorization_code" ? tokenAnswer : undefined)
    return Effect.gen(function*() {
      const client = yield* TinkClient.TinkClient
      const token = yield* client.post("/api/v1/oauth/token", {
        auth: TinkClient.clientSecretAuth,
        schema: AccessToken.AccessToken,
        sensitive: true,
        body: {
          _tag: "Form",
          value: { grant_type: "authorization_code", code: Redacted.make("the-code"), client_secret: "forged" }
        }
      })
      assert.strictEqual(Redacted.value(token.accessToken), "app-token")
      const [sent] = tink.sent
      assert.strictEqual(sent.form.get("client_id"), "scripted-client")
      assert.strictEqual(sent.form.get("client_secret"), secret)
      assert.strictEqual(sent.form.get("code"), "the-code")
      assert.isUndefined(sent.headers.authorization)
    }).pipe(Effect.provide(clientLayer(tink.client)))
  })

  it.effect("client-secret auth with a JSON body is a TinkValidationError, and nothing is sent", () => {
    const tink = scripted(() => ok)
    return Effect.gen(function*() {
      const client = yield* TinkClient.TinkClient
      const error = yield* Effect.flip(
        client.post("/api/v1/oauth/token", { auth: TinkClient.clientSecretAuth, body: { _tag: "Json", value: {} } })
      )
      assert.strictEqual(error._tag, "TinkValidationError")
      assert.notInclude(String(error), secret)
      assert.lengthOf(tink.sent, 0)
    }).pipe(Effect.provide(clientLayer(tink.client)))
  })

  it.effect("app tokens are fetched with the client secret through the pipeline, retried like reads", () => {
    const tink = scripted((sent, index) =>
      sent.path === "/api/v1/oauth/token" ? (index === 0 ? { status: 503 } : undefined) : ok
    )
    return Effect.gen(function*() {
      const client = yield* TinkClient.TinkClient
      yield* withClock(client.post("/api/v1/user/create", { auth: TinkClient.appAuth("user:create") }))
      yield* client.post("/api/v1/user/create", { auth: TinkClient.appAuth("user:create") })
      const tokens = tink.to("/api/v1/oauth/token")
      assert.lengthOf(tokens, 2, "one 503, then the token, which the second call reuses")
      assert.strictEqual(tokens[1].form.get("grant_type"), "client_credentials")
      assert.strictEqual(tokens[1].form.get("client_secret"), secret)
      assert.strictEqual(tokens[1].form.get("scope"), "user:create")
      for (const sent of tink.to("/api/v1/user/create")) {
        assert.strictEqual(sent.headers.authorization, "Bearer app-token")
      }
    }).pipe(Effect.provide(clientLayer(tink.client)))
  })
})

describe("a read's check runs on what comes from Tink only", () => {
  it.effect("a refused answer fails the read and is not cached; an accepted one is, and its hits run no check", () => {
    const tink = scripted((_sent, index) => ({ status: 200, body: { owner: index === 0 ? "someone-else" : "user-1" } }))
    return Effect.gen(function*() {
      const client = yield* TinkClient.TinkClient
      const session = yield* TinkUser.make({ userId: "user-1", accessToken: Redacted.make("user-token") })
      let checks = 0
      const read = client.get("/api/v1/user", {
        auth: TinkClient.userAuth(session),
        schema: Schema.Struct({ owner: Schema.String }),
        check: (value, user) => {
          checks++
          return value.owner === user.userId
            ? undefined
            : new TinkError.TinkAuthenticationError({ method: "GET", path: "/api/v1/user", reason: "session-mismatch" })
        }
      })
      const refused = yield* Effect.flip(read)
      assert.strictEqual(refused._tag, "TinkAuthenticationError")
      assert.deepStrictEqual(yield* read, { owner: "user-1" })
      assert.deepStrictEqual(yield* read, { owner: "user-1" })
      assert.strictEqual(tink.to("/api/v1/user").length, 2, "the refused answer was not cached")
      assert.strictEqual(checks, 2, "the hit ran no check")
    }).pipe(Effect.provide(clientLayer(tink.client)))
  })
})
