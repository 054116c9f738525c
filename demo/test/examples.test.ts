import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

// Runs each program of examples/ the way its header says, from the repository root, and checks
// what it prints. The Redis example uses the Redis on 127.0.0.1:6379 and fails (never skips) when
// that Redis does not answer.

const root = fileURLToPath(new URL("../../", import.meta.url))

/** The environment minus anything that would point an example elsewhere (real Tink, another Redis, a parent vitest). */
const cleanEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(TINK_|VITEST|FORCE_COLOR$|NODE_ENV$)/.test(name)) env[name] = value
  }
  return { ...env, ...extra }
}

const run = async (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = cleanEnv()) => {
  try {
    const { stderr, stdout } = await promisify(execFile)(process.execPath, args, { cwd: root, env, timeout: 90_000 })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string }
    return { code: failed.code ?? "?", stdout: failed.stdout ?? "", stderr: failed.stderr ?? String(error) }
  }
}

const runExample = (name: string, env?: NodeJS.ProcessEnv) =>
  run(["--import", "tsx", "--conditions=source", `examples/${name}`], env)

const lines = (...text: ReadonlyArray<string>) => text.map((line) => `${line}\n`).join("")

// The examples are separate processes: run them side by side.
describe.concurrent("examples", () => {
  it("lifecycle.ts walks a user through its life against the sandbox", async () => {
    const result = await runExample("lifecycle.ts")
    assert.strictEqual(result.code, 0, result.stdout + result.stderr)
    assert.strictEqual(
      result.stdout,
      lines(
        "step                 cache        requests   detail",
        "create user          -                   2   app token, user:create",
        "authorization grant  -                   2   app token, authorization:grant",
        "user token           -                   1   expires in 7200 s",
        "list credentials     miss                1   1 credential(s), UPDATED",
        "list credentials     hit                 0   1 credential(s), UPDATED",
        "refresh credential   invalidated         2   204",
        "list credentials     miss                1   1 credential(s), AUTHENTICATING",
        "delete credential    invalidated         2   204",
        "delete user          invalidated         3   grant + exchange for user:delete, then 204",
        "cache: 1 hit(s), 4 miss(es), 0 coalesced, 6 invalidation(s), hit rate 20%",
        "requests that reached Tink: 14"
      )
    )
  }, 120_000)

  it("multi-user-service.ts serves each user with their own session and cache", async () => {
    const result = await runExample("multi-user-service.ts")
    assert.strictEqual(result.code, 0, result.stdout + result.stderr)
    const fetched = (n: number) => `(credential lists fetched from Tink so far: ${n})`
    assert.strictEqual(
      result.stdout,
      lines(
        "service listening; the sandbox plays Tink",
        `alice                        -> 200, 2 credential(s): se-demobank UPDATED, se-otherbank UPDATED  ${
          fetched(1)
        }`,
        `bob                          -> 200, 1 credential(s): se-demobank UPDATED  ${fetched(2)}`,
        `alice again (cached)         -> 200, 2 credential(s): se-demobank UPDATED, se-otherbank UPDATED  ${
          fetched(2)
        }`,
        `bob again (cached)           -> 200, 1 credential(s): se-demobank UPDATED  ${fetched(2)}`,
        `carol, with a made-up token  -> 401, Tink refused the token  ${fetched(3)}`,
        `no headers                   -> 401, Authorization and X-Tink-User-Id required  ${fetched(3)}`,
        "cache: 2 hit(s), 3 miss(es), 2 entries"
      )
    )
  }, 120_000)

  it("redis-two-processes.ts shares the cache and its invalidations through the Redis on 127.0.0.1:6379", async () => {
    const result = await runExample("redis-two-processes.ts", cleanEnv({ TINK_REDIS_URL: "redis://127.0.0.1:6379" }))
    assert.strictEqual(
      result.code,
      0,
      `the example needs the Redis on 127.0.0.1:6379 (start it with: redis-server --daemonize yes --bind 127.0.0.1 ` +
        `--port 6379 --save "" --appendonly no)\n${result.stdout}${result.stderr}`
    )
    assert.strictEqual(
      result.stdout,
      lines(
        "two worker processes, A and B, sharing one Redis cache; the sandbox plays Tink",
        "A lists credentials    2 credential(s)  cache miss         lists fetched from Tink: 1",
        "B lists credentials    2 credential(s)  cache hit          lists fetched from Tink: 1",
        "B deletes credential                    cache invalidated  lists fetched from Tink: 1",
        "A lists credentials    1 credential(s)  cache miss         lists fetched from Tink: 2",
        "B read what A cached, and A read fresh data right after B's delete"
      )
    )
  }, 120_000)

  it("opentelemetry.ts exports the lifecycle's spans and metrics to the console", async () => {
    const result = await runExample("opentelemetry.ts")
    assert.strictEqual(result.code, 0, result.stdout + result.stderr)
    const names = [
      "tink.users.createUser",
      "tink.users.listCredentials",
      "GET /api/v1/credentials/list",
      "GET /api/v1/credentials/{id}",
      "http.client.request.duration",
      "tink_cache_hits_total"
    ]
    for (const name of names) assert.include(result.stdout, `name: '${name}'`)
    // OpenTelemetry's HTTP client attributes, the status code an integer, Tink's request id.
    assert.include(result.stdout, "'url.template': '/api/v1/credentials/{id}'")
    assert.include(result.stdout, "'server.address': '127.0.0.1'")
    assert.match(result.stdout, /'http\.response\.status_code': 200,/)
    assert.match(result.stdout, /'tink\.request_id': '[0-9a-f]+'/)
    assert.include(result.stdout, "unit: 's'", "the duration histogram is in seconds")
    assert.include(result.stdout, "attributes: { resource: 'credentials' }", "cache counters by resource")
    assert.notInclude(result.stdout, "tink_http_request_duration_ms")
    assert.notMatch(result.stdout, /\/credentials\/(?!\{id\}|list')[^'/\s]+/, "no concrete id in any exported path")
  }, 120_000)

  it(
    "credential-status-sse.ts streams a refresh's statuses as server-sent events and takes Tink's signed events",
    async () => {
      const result = await runExample("credential-status-sse.ts")
      assert.strictEqual(result.code, 0, result.stdout + result.stderr)
      assert.strictEqual(
        result.stdout,
        lines(
          "service listening; the sandbox plays Tink",
          "before the refresh, a list read shows    UPDATED",
          "refresh started, a list read shows       AUTHENTICATING (cached for 30 s)",
          "GET /credentials/{id}/status -> 200, text/event-stream",
          "  event: status  AUTHENTICATING",
          "  event: status  UPDATING",
          "  event: status  UPDATED (final)",
          "the service closed the stream",
          "after the stream, a list read shows      UPDATED (the watch refreshed the cache)",
          "Tink's signed refresh:finished event reached POST /webhooks/tink -> 204",
          "an unknown credential:",
          "GET /credentials/{id}/status -> 200, text/event-stream",
          "  event: error   TinkNotFoundError",
          "the service closed the stream"
        )
      )
    },
    120_000
  )

  it("testing-with-sandbox.test.ts passes under vitest", async () => {
    const result = await run([
      `${root}node_modules/vitest/vitest.mjs`,
      "run",
      "--root",
      "examples",
      "--reporter",
      "verbose"
    ], cleanEnv({ NO_COLOR: "1" }))
    assert.strictEqual(result.code, 0, result.stdout + result.stderr)
    assert.match(result.stdout, /Tests\s+4 passed \(4\)/)
  }, 120_000)
})
