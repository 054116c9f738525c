import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxServer from "@tink-effect/sandbox/SandboxServer"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

// `npm run verify:live` run as a user runs it, in its own process, with the sandbox served on a
// real port standing in for Tink: the script itself is what is checked, not a copy of its logic.

const root = fileURLToPath(new URL("../../../", import.meta.url))

const skipLine =
  "SKIPPED: no credentials, nothing was checked (set TINK_CLIENT_ID and TINK_CLIENT_SECRET to check against Tink)"

/** The environment minus anything that would point the script at real Tink, a Redis, or a parent vitest. */
const cleanEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(TINK_|VITEST|FORCE_COLOR$|NODE_ENV$)/.test(name)) env[name] = value
  }
  return { ...env, ...extra }
}

const verifyLive = (env: Record<string, string>) =>
  Effect.promise(async () => {
    try {
      const { stdout, stderr } = await promisify(execFile)("npm", ["run", "--silent", "verify:live"], {
        cwd: root,
        env: cleanEnv(env),
        timeout: 90_000,
        shell: process.platform === "win32"
      })
      return { code: 0, stdout, stderr }
    } catch (error) {
      const failed = error as { code?: number | string; stdout?: string; stderr?: string }
      return { code: failed.code ?? "?", stdout: failed.stdout ?? "", stderr: failed.stderr ?? String(error) }
    }
  })

/** Each table row as `operation result detail`, keyed by operation. */
const rowsOf = (stdout: string): Record<string, { result: string; detail: string }> =>
  Object.fromEntries(
    stdout.split("\n").flatMap((line) => {
      const match = /^(\w+)\s+(passed|failed|skipped)\s+(.*)$/.exec(line)
      return match === null ? [] : [[match[1], { result: match[2], detail: match[3] }]]
    })
  )

const operations = [
  "createUser",
  "createAuthorization",
  "getUserAccessToken",
  "listCredentials",
  "getCredential",
  "refreshCredential",
  "deleteCredential",
  "deleteUser"
]

const sandboxApp = { TINK_CLIENT_ID: "sandbox-client", TINK_CLIENT_SECRET: "sandbox-secret" }

describe.concurrent("npm run verify:live", () => {
  it.live("without credentials: prints the skip line, exits 0, and sends nothing", () =>
    Effect.gen(function*() {
      const server = yield* SandboxServer.SandboxServer
      const sandbox = yield* Sandbox.Sandbox
      // Unset, and set but empty: both mean "no credentials". The URL is there to catch any request.
      const [unset, empty] = yield* Effect.all([
        verifyLive({ TINK_BASE_URL: server.url }),
        verifyLive({ TINK_BASE_URL: server.url, TINK_CLIENT_ID: "", TINK_CLIENT_SECRET: "" })
      ], { concurrency: 2 })
      for (const result of [unset, empty]) {
        assert.strictEqual(result.code, 0, result.stdout + result.stderr)
        assert.strictEqual(result.stdout, `${skipLine}\n`)
      }
      assert.strictEqual(yield* sandbox.totalRequests, 0)
    }).pipe(Effect.provide(SandboxServer.layer())), 90_000)

  it.live("with only one of the two set: fails (exit 1), nothing sent", () =>
    Effect.gen(function*() {
      const server = yield* SandboxServer.SandboxServer
      const sandbox = yield* Sandbox.Sandbox
      const result = yield* verifyLive({ TINK_BASE_URL: server.url, TINK_CLIENT_ID: "sandbox-client" })
      assert.strictEqual(result.code, 1, result.stdout + result.stderr)
      assert.match(result.stdout, /^FAILED: TINK_CLIENT_SECRET is not set, nothing was checked/)
      assert.strictEqual(yield* sandbox.totalRequests, 0)
    }).pipe(Effect.provide(SandboxServer.layer())), 90_000)

  it.live(
    "against the sandbox: every operation runs; with no credential the credential steps say skipped",
    () =>
      Effect.gen(function*() {
        const server = yield* SandboxServer.SandboxServer
        const sandbox = yield* Sandbox.Sandbox
        const result = yield* verifyLive({ TINK_BASE_URL: server.url, ...sandboxApp })
        assert.strictEqual(result.code, 0, result.stdout + result.stderr)
        assert.strictEqual(result.stdout.split("\n")[0], `tink-effect live check against ${server.url}`)
        const rows = rowsOf(result.stdout)
        assert.deepStrictEqual(Object.keys(rows), operations)
        for (const operation of ["createUser", "createAuthorization", "getUserAccessToken", "deleteUser"]) {
          assert.strictEqual(rows[operation].result, "passed", `${operation}: ${rows[operation].detail}`)
        }
        assert.deepStrictEqual(rows.listCredentials, { result: "passed", detail: "0 credential(s)" })
        for (const operation of ["getCredential", "refreshCredential", "deleteCredential"]) {
          assert.strictEqual(rows[operation].result, "skipped")
          assert.match(rows[operation].detail, /^skipped: no credential/)
        }
        assert.match(
          result.stdout,
          /\nPASSED: 5 passed, 0 failed, 3 skipped \(skipped operations were not checked\)\n$/
        )
        // It really went to the server it was given, and cleaned up after itself.
        assert.strictEqual(yield* sandbox.usersCreated, 1)
        assert.strictEqual(yield* sandbox.requestCount("GET", "/api/v1/credentials/list"), 1)
        assert.strictEqual(yield* sandbox.requestCount("POST", "/api/v1/user/delete"), 1)
      }).pipe(Effect.provide(SandboxServer.layer())),
    90_000
  )

  it.live(
    "with a credential: getCredential, refreshCredential and deleteCredential run on it",
    () =>
      Effect.gen(function*() {
        const server = yield* SandboxServer.SandboxServer
        const sandbox = yield* Sandbox.Sandbox
        // A new user has no credential until a bank is connected in Tink Link, which a script cannot
        // do: the user is made here with one, and the create call answers with it. All else is the
        // sandbox's own behaviour.
        const { userId } = yield* sandbox.createUser({ market: "SE" })
        const credential = yield* sandbox.addCredential(userId, { providerName: "se-demobank" })
        yield* sandbox.setFaults([{
          method: "POST",
          path: "/api/v1/user/create",
          times: 1,
          fault: { _tag: "Body", body: JSON.stringify({ external_user_id: null, user_id: userId }) }
        }])
        const result = yield* verifyLive({ TINK_BASE_URL: server.url, ...sandboxApp })
        assert.strictEqual(result.code, 0, result.stdout + result.stderr)
        const rows = rowsOf(result.stdout)
        assert.deepStrictEqual(Object.keys(rows), operations)
        for (const operation of operations) {
          assert.strictEqual(rows[operation].result, "passed", `${operation}: ${rows[operation].detail}`)
        }
        assert.strictEqual(rows.listCredentials.detail, "1 credential(s)")
        assert.match(rows.getCredential.detail, new RegExp(`^${credential.id}, `))
        assert.match(result.stdout, /\nPASSED: 8 passed, 0 failed, 0 skipped\n$/)
        const path = `/api/v1/credentials/${credential.id}`
        // getCredential, then the delete's check of whose credential it is (the refresh
        // invalidated what getCredential cached).
        assert.strictEqual(yield* sandbox.requestCount("GET", path), 2)
        assert.strictEqual(yield* sandbox.requestCount("POST", `${path}/refresh`), 1)
        assert.strictEqual(yield* sandbox.requestCount("DELETE", path), 1)
        assert.isFalse(yield* sandbox.userExists(userId))
      }).pipe(Effect.provide(SandboxServer.layer())),
    90_000
  )

  it.live(
    "a rejected secret: createUser fails with its error tag, the rest is skipped, exit 1, no secret printed",
    () =>
      Effect.gen(function*() {
        const server = yield* SandboxServer.SandboxServer
        const secret = "not-the-sandbox-secret-4f1d"
        const result = yield* verifyLive({
          TINK_BASE_URL: server.url,
          TINK_CLIENT_ID: "sandbox-client",
          TINK_CLIENT_SECRET: secret
        })
        assert.strictEqual(result.code, 1, result.stdout + result.stderr)
        const rows = rowsOf(result.stdout)
        assert.deepStrictEqual(Object.keys(rows), operations)
        assert.strictEqual(rows.createUser.result, "failed")
        assert.match(rows.createUser.detail, /^TinkAuthenticationError: /)
        for (const operation of operations.slice(1)) {
          assert.deepStrictEqual(rows[operation], { result: "skipped", detail: "skipped: no user" })
        }
        assert.match(result.stdout, /\nFAILED: 0 passed, 1 failed, 7 skipped\n$/)
        assert.notInclude(result.stdout + result.stderr, secret)
      }).pipe(Effect.provide(SandboxServer.layer())),
    90_000
  )

  it.live(
    "a failure midway: reported with tag and message, dependent steps skipped, the user still deleted",
    () =>
      Effect.gen(function*() {
        const server = yield* SandboxServer.SandboxServer
        const sandbox = yield* Sandbox.Sandbox
        yield* sandbox.setFaults([{
          method: "GET",
          path: "/api/v1/credentials/list",
          fault: { _tag: "Status", status: 404, errorCode: "some.code", errorMessage: "gone fishing" }
        }])
        const result = yield* verifyLive({ TINK_BASE_URL: server.url, ...sandboxApp })
        assert.strictEqual(result.code, 1, result.stdout + result.stderr)
        const rows = rowsOf(result.stdout)
        assert.strictEqual(rows.listCredentials.result, "failed")
        assert.match(rows.listCredentials.detail, /^TinkNotFoundError: .*gone fishing/)
        for (const operation of ["getCredential", "refreshCredential", "deleteCredential"]) {
          assert.deepStrictEqual(rows[operation], { result: "skipped", detail: "skipped: listCredentials failed" })
        }
        assert.strictEqual(rows.deleteUser.result, "passed", rows.deleteUser.detail)
        assert.match(result.stdout, /\nFAILED: 4 passed, 1 failed, 3 skipped\n$/)
        assert.strictEqual(yield* sandbox.requestCount("POST", "/api/v1/user/delete"), 1)
      }).pipe(Effect.provide(SandboxServer.layer())),
    90_000
  )
})
