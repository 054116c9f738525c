import { ResponseCache } from "@tink-effect/core"
import type * as Option from "effect/Option"
import type * as Schema from "effect/Schema"

/** One value decoded from Redis, with everything it was decoded from. */
interface Decoded {
  readonly scope: string
  readonly key: string
  readonly generation: string
  /** The stored string exactly as Redis returned it (sealed, when encryption is on). */
  readonly stored: string
  readonly schema: Schema.Schema.All
  readonly value: Option.Some<unknown>
}

/**
 * The last values decoded per entry, so a read whose reply carries the very bytes decoded before
 * skips opening, parsing and decoding them again (most of a hit's own CPU): the value is a
 * function of the stored string and the schema. It is never a cache of its own: every read still
 * goes to Redis, and only a reply identical to the one decoded (same scope, request key,
 * generation, stored string and schema) is answered with the remembered value. Compared in full,
 * so a sealed value copied under another key is opened (and refused) as before.
 *
 * Values are deeply frozen once, when decoded (as the cache would on every hit), and shared by
 * every read that gets them, as the memory store and the near cache share theirs. Bounded: the
 * oldest decoded leaves first.
 *
 * @internal
 */
export interface DecodeMemo {
  readonly get: (
    scope: string,
    key: string,
    generation: string,
    stored: string,
    schema: Schema.Schema.All
  ) => Option.Some<unknown> | undefined
  /** Remembers a decoded value; returns it frozen (`ResponseCache.freezeDeep`). */
  readonly set: <A>(
    scope: string,
    key: string,
    generation: string,
    stored: string,
    schema: Schema.Schema.All,
    value: Option.Some<A>
  ) => Option.Some<A>
  readonly size: () => number
}

/** @internal */
export const make = (capacity: number): DecodeMemo => {
  const entries = new Map<string, Decoded>()
  const slot = (scope: string, key: string) => `${scope}\u0000${key}`
  return {
    get: (scope, key, generation, stored, schema) => {
      const known = entries.get(slot(scope, key))
      return known !== undefined && known.stored === stored && known.generation === generation &&
          known.schema === schema && known.scope === scope && known.key === key
        ? known.value
        : undefined
    },
    set: (scope, key, generation, stored, schema, value) => {
      ResponseCache.freezeDeep(value.value)
      const at = slot(scope, key)
      // Re-inserted at the end: what leaves is the entry decoded longest ago.
      entries.delete(at)
      entries.set(at, { scope, key, generation, stored, schema, value })
      if (entries.size > capacity) entries.delete(entries.keys().next().value!)
      return value
    },
    size: () => entries.size
  }
}
