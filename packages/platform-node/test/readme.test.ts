import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const readme = readFileSync(`${root}README.md`, "utf8")

const block = (name: string): string => {
  const match = new RegExp(`<!-- ${name}:begin -->\\n\`\`\`\\w*\\n([\\s\\S]*?)\`\`\`\\n<!-- ${name}:end -->`).exec(
    readme
  )
  assert.isNotNull(match, `README has a ${name} block`)
  return match![1]
}

describe("README", () => {
  it("shows exactly what `npm start` prints", async () => {
    const env = { ...process.env }
    for (const name of ["TINK_CLIENT_ID", "TINK_CLIENT_SECRET", "TINK_BASE_URL", "TINK_REDIS_URL"]) delete env[name]
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "--conditions=source", "packages/platform-node/src/main.ts"],
      { cwd: root, env, timeout: 60_000 }
    )
    assert.strictEqual(stdout, block("npm-start"))
  }, 60_000)

  it("shows the quick start as it is in examples/quickstart.ts, which the typecheck compiles", () => {
    assert.strictEqual(block("quickstart"), readFileSync(`${root}examples/quickstart.ts`, "utf8"))
  })
})
