import { createHash } from "node:crypto"

/** @internal */
export interface Script {
  readonly source: string
  readonly sha: string
}

const script = (source: string): Script => ({ source, sha: createHash("sha1").update(source).digest("hex") })

/**
 * One round trip for a cached read: the scope's generation (created at the caller's random value
 * when missing) and the entry under it.
 *
 * KEYS[1] generation key. ARGV[1] entry key prefix (`ns:e:{scope}:`), ARGV[2] request key,
 * ARGV[3] fresh random generation, ARGV[4] generation TTL in ms.
 * Returns `{ generation, entry | nil }`.
 *
 * The entry key is derived here from the generation just read, so it cannot be declared in KEYS;
 * it carries the same `{scope}` hash tag as KEYS[1], so it lives in the same cluster slot.
 *
 * @internal
 */
export const read = script(`local generation = redis.call("GET", KEYS[1])
if not generation then
  redis.call("SET", KEYS[1], ARGV[3], "NX", "PX", ARGV[4])
  return { ARGV[3], false }
end
return { generation, redis.call("GET", ARGV[1] .. generation .. ":" .. ARGV[2]) }
`)

/**
 * Stores an entry only if the scope is still at the reader's generation (C6), and keeps the
 * generation key alive at least as long as the entry.
 *
 * KEYS[1] generation key, KEYS[2] entry key. ARGV[1] expected generation, ARGV[2] value,
 * ARGV[3] entry TTL in ms, ARGV[4] generation TTL in ms. Returns 1 when stored, 0 otherwise.
 *
 * @internal
 */
export const write = script(`if redis.call("GET", KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call("SET", KEYS[2], ARGV[2], "PX", ARGV[3])
local keep = math.max(tonumber(ARGV[3]), tonumber(ARGV[4]))
if redis.call("PTTL", KEYS[1]) < keep then
  redis.call("PEXPIRE", KEYS[1], keep)
end
return 1
`)

/**
 * Moves a scope to a new generation in one atomic step (C11: no key is scanned): INCR when the
 * generation is a number, else a fresh random value (C10); either way its TTL is reset.
 *
 * KEYS[1] generation key. ARGV[1] fresh random generation, ARGV[2] generation TTL in ms.
 *
 * @internal
 */
export const invalidate = script(`local current = redis.call("GET", KEYS[1])
if current and string.len(current) < 16 and string.match(current, "^%d+$") then
  redis.call("INCR", KEYS[1])
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
else
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
end
return 1
`)
