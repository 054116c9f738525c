import { TinkMetrics } from "@tink-effect/core"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"

/**
 * A cache command that failed, timed out or returned something unexpected.
 *
 * @internal
 */
export class RedisStoreError extends Data.TaggedError("RedisStoreError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

/**
 * What went wrong, as a class safe for logs: a Redis error code (`OOM`, `NOPERM`, `TINKNOTMASTER`,
 * ...), a Node error code (`ECONNREFUSED`), a node-redis error class (`ClientOfflineError`) or a
 * reason of our own. Never a message: those may quote values or addresses.
 *
 * @internal
 */
export const reasonOf = (cause: unknown): string => {
  if (typeof cause === "string") return cause
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code
    if (typeof code === "string" && /^[A-Z0-9_]+$/.test(code)) return code
    // An ACL denial inside a script is an ERR, not a NOPERM.
    if (/^ERR The user executing the script can't /.test(cause.message)) return "NOPERM"
    const word = /^([A-Z][A-Z0-9_]+) /.exec(cause.message)
    if (word !== null) return word[1]!
    return cause.constructor.name
  }
  return "unknown"
}

/**
 * Scopes are user ids or token hashes: logs carry a short hash of them, never the scope itself.
 *
 * @internal
 */
export const scopeTag = (scope: string): string => createHash("sha256").update(scope).digest("hex").slice(0, 12)

/**
 * The store's failure count (`stats.storeErrors`), kept with the process-wide metric.
 *
 * @internal
 */
export interface ErrorCount {
  readonly record: () => void
  readonly current: Effect.Effect<number>
}

/** @internal */
export const makeErrorCount = (): ErrorCount => {
  let errors = 0
  return {
    record: () => {
      errors++
      TinkMetrics.cacheStoreErrors.unsafeUpdate(1, [])
    },
    current: Effect.sync(() => errors)
  }
}
