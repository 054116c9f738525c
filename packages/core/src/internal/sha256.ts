/**
 * A synchronous SHA-256 (FIPS 180-4) in plain TypeScript. Sessions hash their token and scope
 * once per `asUser`; `crypto.subtle` would make that a promise per request, and core stays
 * platform-neutral (no `node:crypto`). Tokens are short (one to a few dozen blocks), so the
 * cost is a few microseconds at most.
 *
 * @internal
 */

const K = new Int32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2
])

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"))

/** Reused across calls: hashing is synchronous, so no two calls ever share them at once. */
const W = new Int32Array(64)
const H = new Int32Array(8)

const compress = (bytes: Uint8Array, offset: number): void => {
  for (let i = 0; i < 16; i++) {
    const j = offset + i * 4
    W[i] = (bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!
  }
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15]!
    const w2 = W[i - 2]!
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3)
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10)
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0
  }
  let a = H[0]!, b = H[1]!, c = H[2]!, d = H[3]!, e = H[4]!, f = H[5]!, g = H[6]!, h = H[7]!
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i]! + W[i]!) | 0
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0
    h = g
    g = f
    f = e
    e = (d + t1) | 0
    d = c
    c = b
    b = a
    a = (t1 + t2) | 0
  }
  H[0] = (H[0]! + a) | 0
  H[1] = (H[1]! + b) | 0
  H[2] = (H[2]! + c) | 0
  H[3] = (H[3]! + d) | 0
  H[4] = (H[4]! + e) | 0
  H[5] = (H[5]! + f) | 0
  H[6] = (H[6]! + g) | 0
  H[7] = (H[7]! + h) | 0
}

/** Room for a message of `length` bytes and its padding: whole blocks, with 9 bytes to spare. */
const padded = (length: number) => (length + 8 + 64) & ~63

/** The message and its padding, reused and grown as needed. */
let buffer = new Uint8Array(1024)

const reserve = (size: number): Uint8Array => {
  if (buffer.length < size) buffer = new Uint8Array(Math.max(size, buffer.length * 2))
  return buffer
}

/** Pads the first `length` bytes of `bytes` (which has room for it) and hashes them. */
const digestOf = (bytes: Uint8Array, length: number): void => {
  H[0] = 0x6a09e667
  H[1] = 0xbb67ae85
  H[2] = 0x3c6ef372
  H[3] = 0xa54ff53a
  H[4] = 0x510e527f
  H[5] = 0x9b05688c
  H[6] = 0x1f83d9ab
  H[7] = 0x5be0cd19
  // 0x80, zeros, then the bit length in the last 8 bytes of the last block (big-endian).
  const end = padded(length)
  bytes[length] = 0x80
  bytes.fill(0, length + 1, end)
  const bits = length * 8
  const high = Math.floor(bits / 0x100000000)
  bytes[end - 8] = high >>> 24
  bytes[end - 7] = high >>> 16
  bytes[end - 6] = high >>> 8
  bytes[end - 5] = high
  bytes[end - 4] = bits >>> 24
  bytes[end - 3] = bits >>> 16
  bytes[end - 2] = bits >>> 8
  bytes[end - 1] = bits
  for (let offset = 0; offset < end; offset += 64) compress(bytes, offset)
}

/** SHA-256 of raw bytes, as a 32-byte digest. @internal */
export const sha256 = (message: Uint8Array): Uint8Array => {
  const bytes = reserve(padded(message.length))
  bytes.set(message)
  digestOf(bytes, message.length)
  const digest = new Uint8Array(32)
  for (let i = 0; i < 8; i++) {
    const word = H[i]!
    digest[i * 4] = word >>> 24
    digest[i * 4 + 1] = word >>> 16
    digest[i * 4 + 2] = word >>> 8
    digest[i * 4 + 3] = word
  }
  return digest
}

/**
 * Writes `text` as UTF-8 into the shared buffer (a lone surrogate becomes U+FFFD, as
 * `TextEncoder` does) and returns the byte length: no allocation for the short, ASCII tokens
 * sessions hash.
 */
const encodeUtf8 = (text: string): number => {
  const bytes = reserve(padded(text.length * 3))
  let n = 0
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i)
    if (code < 0x80) {
      bytes[n++] = code
      continue
    }
    if (code < 0x800) {
      bytes[n++] = 0xc0 | (code >> 6)
      bytes[n++] = 0x80 | (code & 63)
      continue
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00)
        i++
        bytes[n++] = 0xf0 | (code >> 18)
        bytes[n++] = 0x80 | ((code >> 12) & 63)
        bytes[n++] = 0x80 | ((code >> 6) & 63)
        bytes[n++] = 0x80 | (code & 63)
        continue
      }
      code = 0xfffd
    }
    bytes[n++] = 0xe0 | (code >> 12)
    bytes[n++] = 0x80 | ((code >> 6) & 63)
    bytes[n++] = 0x80 | (code & 63)
  }
  return n
}

/** SHA-256 of a string's UTF-8 bytes, as 64 lowercase hex digits. @internal */
export const sha256Hex = (text: string): string => {
  const length = encodeUtf8(text)
  digestOf(buffer, length)
  let hex = ""
  for (let i = 0; i < 8; i++) {
    const word = H[i]!
    hex += HEX[(word >>> 24) & 255]! + HEX[(word >>> 16) & 255]! + HEX[(word >>> 8) & 255]! + HEX[word & 255]!
  }
  return hex
}
