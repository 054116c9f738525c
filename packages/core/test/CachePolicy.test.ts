import { assert, describe, it } from "@effect/vitest"
import { CachePolicy } from "@tink-effect/core"
import { Duration, FastCheck } from "effect"

/** Any UTF-16 string, lone surrogates included, with the characters keys are built from. */
const anyString = FastCheck.oneof(
  FastCheck.string16bits({ maxLength: 12 }),
  FastCheck.array(FastCheck.constantFrom("\uD800", "\uDFFF", "\uFFFD", "%", "u", "D800", "=", "&", "a", "𝕏"), {
    maxLength: 8
  }).map((parts) => parts.join(""))
)

describe("CachePolicy", () => {
  it("keeps every repeated query value in the key and normalises their order (C2)", () => {
    const ab = CachePolicy.requestKey("GET", "/x", [["items", "A"], ["items", "B"]])
    const ba = CachePolicy.requestKey("GET", "/x", [["items", "B"], ["items", "A"]])
    const a = CachePolicy.requestKey("GET", "/x", [["items", "A"]])
    assert.strictEqual(ab, ba)
    assert.notStrictEqual(ab, a)
  })

  it("cannot be fooled by separators inside values", () => {
    const one = CachePolicy.requestKey("GET", "/x", [["a", "1&b=2"]])
    const two = CachePolicy.requestKey("GET", "/x", [["a", "1"], ["b", "2"]])
    assert.notStrictEqual(one, two)
  })

  it("picks TTLs by resource, with overrides first (C3)", () => {
    assert.strictEqual(Duration.toSeconds(CachePolicy.ttlFor("/api/v1/credentials/list")), 30)
    assert.strictEqual(Duration.toSeconds(CachePolicy.ttlFor("/api/v1/credentials/abc")), 30)
    assert.strictEqual(Duration.toMinutes(CachePolicy.ttlFor("/api/v1/user")), 10)
    assert.strictEqual(Duration.toHours(CachePolicy.ttlFor("/api/v1/providers/se")), 1)
    assert.strictEqual(Duration.toHours(CachePolicy.ttlFor("/api/v1/categories")), 24)
    assert.strictEqual(Duration.toMinutes(CachePolicy.ttlFor("/api/v1/unknown")), 5)
    assert.strictEqual(
      Duration.toSeconds(CachePolicy.ttlFor("/api/v1/credentials/list", { credentials: Duration.seconds(5) })),
      5
    )
    assert.strictEqual(Duration.toHours(CachePolicy.longestTtl()), 24)
  })

  it("gives a key for any string, lone surrogates included, and distinct strings distinct keys (10.11)", () => {
    assert.strictEqual(CachePolicy.requestKey("GET", "/x", [["q", "\uD800"]]), "/x?q=%uD800")
    assert.notStrictEqual(
      CachePolicy.requestKey("GET", "/x", [["q", "\uD800"]]),
      CachePolicy.requestKey("GET", "/x", [["q", "\uFFFD"]])
    )
    assert.notStrictEqual(
      CachePolicy.requestKey("GET", "/x", [["q", "\uD800"]]),
      CachePolicy.requestKey("GET", "/x", [["q", "%uD800"]])
    )
    FastCheck.assert(
      FastCheck.property(anyString, anyString, anyString, (name, a, b) => {
        const keyA = CachePolicy.requestKey("GET", "/x", [[name, a]])
        const keyB = CachePolicy.requestKey("GET", "/x", [[name, b]])
        return (keyA === keyB) === (a === b) && CachePolicy.requestKey("GET", "/x", [[a, name]]) !== undefined
      }),
      { numRuns: 2_000 }
    )
  })
})
