import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const root = fileURLToPath(new URL("../../", import.meta.url))

/** The README's `npm-start` block: what `npm start` prints. */
const printed = (): string => {
  const readme = readFileSync(`${root}README.md`, "utf8")
  const match = /<!-- npm-start:begin -->\n```\w*\n([\s\S]*?)```\n<!-- npm-start:end -->/.exec(readme)
  assert.isNotNull(match, "README has an npm-start block")
  return match![1]
}

describe("npm start", () => {
  // The root script itself, so the test follows wherever `npm start` points; --silent drops npm's banner.
  it("prints exactly what the README shows", async () => {
    const env = { ...process.env }
    for (const name of ["TINK_CLIENT_ID", "TINK_CLIENT_SECRET", "TINK_BASE_URL", "TINK_REDIS_URL"]) delete env[name]
    const { stdout } = await promisify(execFile)("npm", ["start", "--silent"], { cwd: root, env, timeout: 60_000 })
    assert.strictEqual(stdout, printed())
  }, 60_000)
})
