import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { createServer, type Server } from "node:net"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

// `tink-sandbox` as another process (in any language) would use it: started as a child process,
// driven over a real socket with plain fetch, stopped with SIGTERM. The source runs through tsx;
// scripts/consumer-test.mjs runs the built command from an installed tarball.

const root = fileURLToPath(new URL("../../../", import.meta.url))
const command = ["--import", "tsx", "--conditions=source", "packages/sandbox/src/bin.ts"]

interface Started {
  readonly child: ChildProcess
  /** Everything printed up to the control line. */
  readonly banner: string
  readonly url: string
}

/** Starts the command and waits for its banner (the URL, the client credentials, the control URL). */
const start = (args: ReadonlyArray<string>): Promise<Started> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...command, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    const timer = setTimeout(() => reject(new Error(`no banner within 30 s\n${out}${err}`)), 30_000)
    child.stderr.on("data", (chunk) => (err += chunk))
    child.stdout.on("data", (chunk) => {
      out += chunk
      const url = /^tink-sandbox listening on (\S+)$/m.exec(out)?.[1]
      if (url !== undefined && /^control: /m.test(out)) {
        clearTimeout(timer)
        resolve({ child, banner: out, url })
      }
    })
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`exited (${code}) before its banner\n${out}${err}`))
    })
  })

const stop = (child: ChildProcess): Promise<number | null> =>
  new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode)
    child.once("exit", (code) => resolve(code))
    child.kill("SIGTERM")
  })

const post = async (url: string, body: unknown) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body)
  })
  return { status: response.status, json: await response.json() as Record<string, any> }
}

const clientToken = (url: string, clientId: string, clientSecret: string) =>
  fetch(`${url}/api/v1/oauth/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret })
  })

describe("tink-sandbox", () => {
  it("serves on 127.0.0.1, prints its client, takes seed data over HTTP, and stops on SIGTERM", async () => {
    const { banner, child, url } = await start(["--port", "0"])
    try {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.include(banner, "client id:     sandbox-client\n")
      assert.include(banner, "client secret: sandbox-secret\n")
      assert.include(banner, `control:       ${url}/__sandbox/\n`)

      // The client it printed is the client it accepts.
      assert.strictEqual((await clientToken(url, "sandbox-client", "sandbox-secret")).status, 200)

      const user = await post(`${url}/__sandbox/users`, { market: "SE" })
      assert.strictEqual(user.status, 201)
      const credential = await post(`${url}/__sandbox/credentials`, {
        userId: user.json.userId,
        providerName: "se-demobank"
      })
      assert.strictEqual(credential.status, 201)
      const token = await post(`${url}/__sandbox/tokens`, { userId: user.json.userId, scopes: ["credentials:read"] })
      assert.strictEqual(token.status, 201)

      const list = await fetch(`${url}/api/v1/credentials/list`, {
        headers: { authorization: `Bearer ${token.json.accessToken}` }
      })
      assert.strictEqual(list.status, 200)
      const { credentials } = await list.json() as { credentials: Array<{ id: string; providerName: string }> }
      assert.deepStrictEqual(credentials.map((c) => [c.id, c.providerName]), [[credential.json.id, "se-demobank"]])
    } finally {
      assert.strictEqual(await stop(child), 0)
    }
  }, 60_000)

  it("accepts the client credentials it is given, and only those", async () => {
    const { banner, child, url } = await start(["--port", "0", "--client-id", "my-app", "--client-secret", "s3cret"])
    try {
      assert.include(banner, "client id:     my-app\nclient secret: s3cret\n")
      assert.strictEqual((await clientToken(url, "my-app", "s3cret")).status, 200)
      assert.strictEqual((await clientToken(url, "sandbox-client", "sandbox-secret")).status, 401)
    } finally {
      await stop(child)
    }
  }, 60_000)

  it("refuses bad arguments with status 2 and a taken port with status 1, saying why", async () => {
    const run = (args: ReadonlyArray<string>) =>
      promisify(execFile)(process.execPath, [...command, ...args], { cwd: root, timeout: 30_000 }).then(
        () => ({ code: 0, stderr: "" }),
        (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr })
      )
    const badPort = await run(["--port", "http"])
    assert.strictEqual(badPort.code, 2)
    assert.include(badPort.stderr, "--port must be 0 to 65535")
    const unknown = await run(["--prot", "4010"])
    assert.strictEqual(unknown.code, 2)
    assert.include(unknown.stderr, "--prot")

    const holder: Server = createServer()
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve))
    try {
      const port = (holder.address() as { port: number }).port
      const taken = await run(["--port", String(port)])
      assert.strictEqual(taken.code, 1)
      assert.include(taken.stderr, `cannot listen on 127.0.0.1:${port}: listen EADDRINUSE`)
    } finally {
      await new Promise((resolve) => holder.close(resolve))
    }
  }, 60_000)
})
