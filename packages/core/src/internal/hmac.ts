/**
 * HMAC-SHA256 (RFC 2104) over the synchronous SHA-256 of `sha256.ts`. Webhook verification runs
 * once per delivery on bodies of a few kilobytes; `crypto.subtle` would make every check a
 * promise and `node:crypto` would tie core to Node, so core signs and verifies in plain
 * TypeScript.
 *
 * @internal
 */
import { sha256 } from "./sha256.js"

const BLOCK = 64
const encoder = new TextEncoder()
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))

/** HMAC-SHA256 of `message` under `key`, as 64 lowercase hex digits. @internal */
export const hmacSha256Hex = (key: string | Uint8Array, message: Uint8Array): string => {
  let keyBytes = typeof key === "string" ? encoder.encode(key) : key
  if (keyBytes.length > BLOCK) keyBytes = sha256(keyBytes)
  const inner = new Uint8Array(BLOCK + message.length)
  const outer = new Uint8Array(BLOCK + 32)
  for (let i = 0; i < BLOCK; i++) {
    const k = keyBytes[i] ?? 0
    inner[i] = k ^ 0x36
    outer[i] = k ^ 0x5c
  }
  inner.set(message, BLOCK)
  outer.set(sha256(inner), BLOCK)
  const digest = sha256(outer)
  let hex = ""
  for (let i = 0; i < digest.length; i++) hex += HEX[digest[i]!]!
  return hex
}

/**
 * Whether two strings are equal, in time that depends only on `expected`'s length: a caller
 * timing the answer learns nothing about how many leading characters of a forged value match.
 *
 * @internal
 */
export const constantTimeEqual = (expected: string, actual: string): boolean => {
  let diff = expected.length ^ actual.length
  for (let i = 0; i < expected.length; i++) {
    diff |= expected.charCodeAt(i) ^ (i < actual.length ? actual.charCodeAt(i) : 0)
  }
  return diff === 0
}
