import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto"

/**
 * A cache key as given: 32 bytes, or their base64. `Redacted`, so it never prints.
 *
 * @internal
 */
export type KeyInput = Redacted.Redacted<Uint8Array | string>

/**
 * Sealing and opening of Redis values (AES-256-GCM). A sealed value is text, since node-redis
 * hands values back as UTF-8 strings:
 *
 *   `tk1.<key id: 8 hex>.<base64: nonce (12 bytes) | ciphertext | tag (16 bytes)>`
 *
 * The additional authenticated data is the header (`tk1.<key id>.`) followed by the entry's full
 * Redis key, so a value moved to another key (another user's, another request's, another
 * generation's) does not open. The key id is the first 4 bytes of a domain-separated SHA-256 of
 * the key: it says which key to try, and tells nothing about the key.
 *
 * @internal
 */
export interface CacheCrypto {
  readonly seal: (redisKey: string, plaintext: string) => string
  /** The plaintext, or why the value was refused (never its content). */
  readonly open: (redisKey: string, stored: string) => string | Refusal
}

/**
 * Why a stored value was refused: `clear` (not sealed at all, e.g. written before encryption was
 * turned on), `unknownKey` (sealed under a key no longer configured: rotated out), `forged` (moved
 * to another key, truncated or tampered with: the tag does not check).
 *
 * @internal
 */
export class Refusal {
  constructor(readonly reason: "clear" | "unknownKey" | "forged") {}
}

const version = "tk1."
const nonceBytes = 12
const tagBytes = 16
const idPattern = /^[0-9a-f]{8}$/
const bodyPattern = /^[A-Za-z0-9+/]*={0,2}$/

/** @internal */
export const keyId = (key: Uint8Array): string =>
  createHash("sha256").update("tink-effect cache key id\0").update(key).digest("hex").slice(0, 8)

/**
 * The key's 32 bytes, or a problem that never quotes it.
 *
 * @internal
 */
export const decodeKey = (key: Uint8Array | string): Either.Either<Uint8Array, string> => {
  if (typeof key !== "string") {
    return key.length === 32 ? Either.right(Uint8Array.from(key)) : Either.left("must be 32 bytes")
  }
  const trimmed = key.trim()
  if (!bodyPattern.test(trimmed) || trimmed.length % 4 !== 0) return Either.left("must be base64 of 32 bytes")
  const bytes = Buffer.from(trimmed, "base64")
  return bytes.length === 32 ? Either.right(new Uint8Array(bytes)) : Either.left("must be base64 of 32 bytes")
}

/**
 * The keys checked (newest first; the first one seals); a bad one fails as a `ConfigError` at
 * `path` (its index appended) that names no byte of it.
 *
 * @internal
 */
export const make = (
  keys: ReadonlyArray<KeyInput>,
  path: ReadonlyArray<string>
): Either.Either<CacheCrypto, ConfigError.ConfigError> => {
  if (keys.length === 0) return Either.left(ConfigError.InvalidData([...path], "At least one cache key is needed"))
  const decoded: Array<{ readonly id: string; readonly key: Uint8Array }> = []
  for (let i = 0; i < keys.length; i++) {
    const input = keys[i]!
    const key = decodeKey(Redacted.isRedacted(input) ? Redacted.value(input) : input as Uint8Array | string)
    if (Either.isLeft(key)) {
      return Either.left(ConfigError.InvalidData([...path, String(i)], `The cache key ${key.left}`))
    }
    decoded.push({ id: keyId(key.right), key: key.right })
  }
  const writer = decoded[0]!
  const byId = new Map<string, Uint8Array>()
  // Newest first: on an (astronomically unlikely) id clash, the newer key wins.
  for (const { id, key } of decoded) if (!byId.has(id)) byId.set(id, key)

  const seal = (redisKey: string, plaintext: string): string => {
    const header = `${version}${writer.id}.`
    const nonce = randomBytes(nonceBytes)
    const cipher = createCipheriv("aes-256-gcm", writer.key, nonce)
    cipher.setAAD(Buffer.from(header + redisKey, "utf8"))
    const body = Buffer.concat([nonce, cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()])
    return header + body.toString("base64")
  }

  const open = (redisKey: string, stored: string): string | Refusal => {
    if (!stored.startsWith(version)) return new Refusal("clear")
    const id = stored.slice(version.length, version.length + 8)
    if (!idPattern.test(id) || stored[version.length + 8] !== ".") return new Refusal("forged")
    const key = byId.get(id)
    if (key === undefined) return new Refusal("unknownKey")
    const encoded = stored.slice(version.length + 9)
    if (!bodyPattern.test(encoded) || encoded.length % 4 !== 0) return new Refusal("forged")
    const body = Buffer.from(encoded, "base64")
    if (body.length < nonceBytes + tagBytes) return new Refusal("forged")
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, body.subarray(0, nonceBytes), { authTagLength: tagBytes })
      decipher.setAAD(Buffer.from(stored.slice(0, version.length + 9) + redisKey, "utf8"))
      decipher.setAuthTag(body.subarray(body.length - tagBytes))
      const plain = Buffer.concat([
        decipher.update(body.subarray(nonceBytes, body.length - tagBytes)),
        decipher.final()
      ])
      return plain.toString("utf8")
    } catch {
      return new Refusal("forged")
    }
  }

  return Either.right({ seal, open })
}
