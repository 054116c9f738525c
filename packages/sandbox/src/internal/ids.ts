/**
 * Opaque identifiers. Tokens and codes must be unguessable even in the live runtime, so they come
 * from the platform's crypto-grade generator rather than Effect's seedable `Random`.
 */

const hex = (bytes: number): string => {
  const buffer = new Uint8Array(bytes)
  globalThis.crypto.getRandomValues(buffer)
  let out = ""
  for (const byte of buffer) {
    out += byte.toString(16).padStart(2, "0")
  }
  return out
}

/** @internal Tink user and credential ids are 32 hex characters. */
export const resourceId = (): string => hex(16)

/** @internal Bearer tokens: 256 bits, never derived from anything a client knows. */
export const token = (): string => hex(32)

/** @internal Authorization codes: single use, short lived, still unguessable. */
export const code = (): string => hex(20)

/** @internal One per response, sent in `X-Request-ID` as Tink does. */
export const requestId = (): string => hex(12)
