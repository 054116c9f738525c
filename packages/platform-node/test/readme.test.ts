import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

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
  it("shows the quick start as it is in examples/quickstart.ts, which the typecheck compiles", () => {
    assert.strictEqual(block("quickstart"), readFileSync(`${root}examples/quickstart.ts`, "utf8"))
  })
})
