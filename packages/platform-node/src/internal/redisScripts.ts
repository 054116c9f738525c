import { createHash } from "node:crypto"

/** @internal */
export interface Script {
  readonly source: string
  readonly sha: string
}

const script = (source: string): Script => ({ source, sha: createHash("sha1").update(source).digest("hex") })

/**
 * Generations are `<epoch>:<integer>`. The epoch names the Redis server process the instance is
 * connected to (its `run_id`): a generation of another epoch was written before a restart or a
 * failover, possibly into a data set that has since rolled back, so it is never trusted and is
 * replaced by a fresh random one (the old entries become unreachable).
 */
const current = `local generation = redis.call("GET", KEYS[1])
local prefix = ARGV[1] .. ":"
local mine = generation and string.sub(generation, 1, string.len(prefix)) == prefix
`

/**
 * One round trip for a cached read: the scope's generation (created at the caller's random value
 * when missing or of another epoch) and the entry under it.
 *
 * KEYS[1] generation key. ARGV[1] epoch, ARGV[2] entry key prefix (`ns:e:{scope}:`), ARGV[3]
 * request key, ARGV[4] fresh random integer, ARGV[5] generation TTL in ms.
 * Returns `{ generation, entry | nil }`.
 *
 * When Redis refuses to create the generation (OOM under `noeviction`), the script fails: the
 * read is a miss without a generation, which stores nothing.
 *
 * The entry key is derived here from the generation just read, so it cannot be declared in KEYS;
 * it carries the same `{scope}` hash tag as KEYS[1], so it lives in the same cluster slot.
 *
 * @internal
 */
export const read = script(`${current}if not mine then
  local fresh = prefix .. ARGV[4]
  redis.call("SET", KEYS[1], fresh, "PX", ARGV[5])
  return { fresh, false }
end
return { generation, redis.call("GET", ARGV[2] .. generation .. ":" .. ARGV[3]) }
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
 * Moves a scope to a new generation in one atomic step (C11: no key is scanned): the next integer
 * in this epoch, else a fresh random one (C10); either way its TTL is reset.
 *
 * If Redis refuses the write (OOM under `noeviction`: SET is a denyoom command, DEL is not), the
 * generation key is deleted instead. That makes the old entries unreachable just as well: the
 * next generation starts at a fresh random value, and until Redis can store one, reads of the
 * scope fail (misses that store nothing).
 *
 * KEYS[1] generation key. ARGV[1] epoch, ARGV[2] fresh random integer, ARGV[3] generation TTL
 * in ms. Returns 1 when bumped, 2 when Redis refused and the key was deleted instead.
 *
 * @internal
 */
export const invalidate = script(`${current}local counter = mine and string.sub(generation, string.len(prefix) + 1)
local next
if counter and string.len(counter) < 16 and string.match(counter, "^%d+$") then
  next = prefix .. string.format("%d", tonumber(counter) + 1)
else
  next = prefix .. ARGV[2]
end
local reply = redis.pcall("SET", KEYS[1], next, "PX", ARGV[3])
if type(reply) == "table" and reply.err then
  redis.call("DEL", KEYS[1])
  return 2
end
return 1
`)
