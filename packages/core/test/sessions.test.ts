import { describe, expect, it } from "@effect/vitest"
import { TinkUser } from "@tink-effect/core"
import { Effect, Redacted } from "effect"
import { createHash } from "node:crypto"
import { sha256, sha256Hex } from "../src/internal/sha256.js"

const nodeSha256 = (text: string | Uint8Array) => createHash("sha256").update(text).digest("hex")

describe("the synchronous SHA-256 sessions hash with", () => {
  it("matches the FIPS 180-4 vectors", () => {
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    expect(sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).toBe(
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    )
    expect(sha256Hex("a".repeat(1_000_000))).toBe("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
  })

  it("matches node:crypto for every length around the block boundaries, and for non-ASCII text", () => {
    const texts = ["", "token", "é", "€", "😀", "été 😀 日本語", "\ud800", "\udc00x", "x\ud83d"]
    for (const base of texts) {
      for (let length = 0; length <= 200; length++) {
        const text = base + "b".repeat(length)
        expect(sha256Hex(text), JSON.stringify(text.slice(0, 12))).toBe(nodeSha256(text))
      }
    }
    // Growing past the shared buffer, then back to a short input.
    const long = "Jäger ".repeat(5_000)
    expect(sha256Hex(long)).toBe(nodeSha256(long))
    expect(sha256Hex("abc")).toBe(nodeSha256("abc"))
    const bytes = new Uint8Array(300).map((_, i) => (i * 7) & 255)
    expect(Buffer.from(sha256(bytes)).toString("hex")).toBe(nodeSha256(bytes))
  })
})

describe("TinkUser sessions", () => {
  const token = Redacted.make("user-token-1")

  it("are built synchronously, with the same fields as before (SHA-256 of token and scope)", () => {
    const named = TinkUser.makeSync({ userId: "user-1", accessToken: token })
    expect(named).toEqual({
      userId: "user-1",
      accessToken: token,
      scope: "u:user-1",
      scopeHash: nodeSha256("u:user-1").slice(0, 16),
      tokenHash: nodeSha256("user-token-1").slice(0, 32)
    })
    const unnamed = TinkUser.makeSync({ accessToken: Redacted.make("user-token-1") })
    expect(unnamed.scope).toBe(`t:${nodeSha256("user-token-1")}`)
    expect(unnamed.scopeHash).toBe(nodeSha256(`t:${nodeSha256("user-token-1")}`).slice(0, 16))
    expect(unnamed.tokenHash).toBe(named.tokenHash)
    expect(unnamed.userId).toBeUndefined()
  })

  it("make runs without a promise: runSync accepts it", () => {
    // With crypto.subtle, make was asynchronous and runSync threw an AsyncFiberException.
    const session = Effect.runSync(TinkUser.make({ userId: "user-2", accessToken: Redacted.make("t-2") }))
    expect(session.tokenHash).toBe(nodeSha256("t-2").slice(0, 32))
  })

  it("a reused Redacted object, a new one with the same token and another token agree with the hash", () => {
    const first = TinkUser.makeSync({ userId: "u", accessToken: token })
    const again = TinkUser.makeSync({ userId: "u", accessToken: token })
    const fresh = TinkUser.makeSync({ userId: "u", accessToken: Redacted.make("user-token-1") })
    const other = TinkUser.makeSync({ userId: "u", accessToken: Redacted.make("user-token-2") })
    expect(again.tokenHash).toBe(first.tokenHash)
    expect(fresh.tokenHash).toBe(first.tokenHash)
    expect(other.tokenHash).toBe(nodeSha256("user-token-2").slice(0, 32))
    expect(other.tokenHash).not.toBe(first.tokenHash)
  })

  it("scope hashes stay right past the memo's capacity", () => {
    for (let i = 0; i < 5_000; i++) {
      const session = TinkUser.makeSync({ userId: `user-${i}`, accessToken: token })
      if (i % 997 === 0) expect(session.scopeHash).toBe(nodeSha256(`u:user-${i}`).slice(0, 16))
    }
    expect(TinkUser.makeSync({ userId: "user-0", accessToken: token }).scopeHash).toBe(
      nodeSha256("u:user-0").slice(0, 16)
    )
  })

  it("never shows the token in the session's printed form", () => {
    const session = TinkUser.makeSync({ accessToken: Redacted.make("very-secret-token") })
    expect(JSON.stringify(session)).not.toContain("very-secret-token")
    expect(String(session.accessToken)).not.toContain("very-secret-token")
  })
})
