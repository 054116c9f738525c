import { createHash } from "node:crypto"

/** @internal */
export interface Script {
  readonly source: string
  readonly sha: string
}

/**
 * Runs a script: EVALSHA, falling back to EVAL (which also caches the script) after a SCRIPT
 * FLUSH or restart. Whichever server the fallback reaches, the script checks the epoch itself.
 * `options` go to node-redis with either command (see `commandOptions` in redisCommand.ts).
 *
 * @internal
 */
export const run = <O>(
  client: { readonly sendCommand: (args: ReadonlyArray<string>, options?: O) => Promise<unknown> },
  script: Script,
  keys: ReadonlyArray<string>,
  args: ReadonlyArray<string>,
  options?: O
): Promise<unknown> => {
  const command = ["EVALSHA", script.sha, String(keys.length), ...keys, ...args]
  return client.sendCommand(command, options).catch((error: unknown) => {
    if (error instanceof Error && error.message.startsWith("NOSCRIPT")) {
      const fallback = command.slice()
      fallback[0] = "EVAL"
      fallback[1] = script.source
      return client.sendCommand(fallback, options)
    }
    throw error
  })
}

const script = (source: string): Script => ({ source, sha: createHash("sha1").update(source).digest("hex") })

/**
 * The error reply of every script run on a server that is not a master (or whose INFO lacks a
 * replication id): a replica's data set may be one the master has since moved past, or one it is
 * about to throw away. Matched by the store to tell this case apart in its logs.
 *
 * @internal
 */
export const notMaster = "TINKNOTMASTER"

/**
 * The prelude of every script: the epoch of the data set the script is about to touch, read in
 * the same atomic step, so no rollback can fall between the check and the use.
 *
 * The epoch is the first 16 hex digits of `master_replid`. Redis draws a new replication id at
 * every start of a master process (whatever it loads: RDB, AOF or nothing) and at every promotion
 * of a replica (REPLICAOF NO ONE, a Sentinel or Cluster failover). A data set can only go back in
 * time through one of those (a restart from an older snapshot, a failover to a lagging replica, a
 * demoted master resynced from one, then promoted again), so a generation written before carries
 * another epoch, and is never trusted again. A replica is refused outright. The id also changes by
 * itself when a master's backlog expires (`repl-backlog-ttl` with no replica): that only costs a
 * cold cache. `run_id` (INFO server) is not needed on top, and costs as much again per call.
 *
 * On Redis Cluster the epoch is the one of the primary the script runs on (the primary of the
 * scope's slot): a promoted replica has a new replication id, and a generation key migrated to
 * another primary arrives with the source's epoch, so in both cases the scope starts over.
 *
 * Generations are `<epoch>:<integer>`; `prefix` is `<epoch>:`.
 */
const epoch = `local info = redis.call("INFO", "replication")
local at = string.find(info, "master_replid:", 1, true)
if not string.find(info, "role:master\\r\\n", 1, true) or not at then
  return redis.error_reply("${notMaster} the cache only uses a master's data set")
end
local prefix = string.sub(info, at + 14, at + 29) .. ":"
`

/** The scope's generation (KEYS[1]), and whether it belongs to the current epoch. */
const current = `${epoch}local generation = redis.call("GET", KEYS[1])
local mine = generation and string.sub(generation, 1, 17) == prefix
`

/**
 * The reply of `read` on Redis Cluster when the entry key the caller declared is not under the
 * scope's current generation: the caller runs it again with the right one.
 *
 * @internal
 */
export const again = "again"

/**
 * One round trip for a cached read: the scope's generation (created at the caller's random value
 * when missing or of another epoch) and the entry under it.
 *
 * KEYS[1] generation key. ARGV[1] entry key prefix (`ns:e:{scope}:`), ARGV[2] request key,
 * ARGV[3] fresh random integer, ARGV[4] generation TTL in ms. Returns `{ generation, entry | nil }`,
 * or an error on a replica.
 *
 * When Redis refuses to create the generation (OOM under `noeviction`), the script fails: the
 * read is a miss without a generation, which stores nothing.
 *
 * Two ways to name the entry key:
 * - one Redis (KEYS[1] only): the script derives it from the generation it just read, so a read is
 *   always one round trip. A single Redis allows that; the key carries the same `{scope}` hash tag.
 * - Redis Cluster (KEYS[2] = the entry key under the generation the caller expects, ARGV[5] that
 *   generation): every key the script touches is declared, so the cluster routes the script by
 *   its keys, redirects it whole during a slot migration (`ASK`, `TRYAGAIN`) and never lets it
 *   touch a key it did not declare. When the generation is another one, nothing is read and the
 *   reply is `{ generation, nil, "again" }`: the caller runs it once more with that generation's
 *   key. A second round trip happens only for a scope whose generation this process had not seen.
 *
 * @internal
 */
export const read = script(`${current}if not mine then
  local fresh = prefix .. ARGV[3]
  redis.call("SET", KEYS[1], fresh, "PX", ARGV[4])
  return { fresh, false }
end
if KEYS[2] then
  if generation ~= ARGV[5] then
    return { generation, false, "${again}" }
  end
  return { generation, redis.call("GET", KEYS[2]) }
end
return { generation, redis.call("GET", ARGV[1] .. generation .. ":" .. ARGV[2]) }
`)

/**
 * `read` for a store with a near cache: the same, plus the entry's remaining TTL in ms as a third
 * element when there is an entry, so the near cache never keeps it longer than Redis does. The
 * generation key must stay KEYS[1]: for a connection with `CLIENT TRACKING`, Redis 7.0 remembers
 * the keys a script declares once the script runs a read-only command (the GET of KEYS[1]), not
 * the keys it derives (checked: a derived entry key is not pushed), so another instance bumping
 * the generation is pushed to every reader.
 *
 * @internal
 */
export const readTracked = script(`${current}if not mine then
  local fresh = prefix .. ARGV[3]
  redis.call("SET", KEYS[1], fresh, "PX", ARGV[4])
  return { fresh, false }
end
local key = ARGV[1] .. generation .. ":" .. ARGV[2]
local entry = redis.call("GET", key)
if not entry then
  return { generation, false }
end
return { generation, entry, redis.call("PTTL", key) }
`)

/**
 * Stores an entry only if the scope is still at the reader's generation (C6), in the current
 * epoch, and keeps the generation key alive at least as long as the entry. A value read before a
 * rollback is never stored into the rolled-back data set, even under the same generation.
 *
 * KEYS[1] generation key, KEYS[2] entry key. ARGV[1] expected generation, ARGV[2] value,
 * ARGV[3] entry TTL in ms, ARGV[4] generation TTL in ms. Returns 1 when stored, 0 otherwise.
 *
 * @internal
 */
export const write = script(`${current}if not mine or generation ~= ARGV[1] then
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
 * in this epoch, else a fresh random one (C10); either way its TTL is reset. On a replica it
 * fails, so the invalidation goes pending and is redelivered to the master.
 *
 * If Redis refuses the write (OOM under `noeviction`: SET is a denyoom command, DEL is not), the
 * generation key is deleted instead. That makes the old entries unreachable just as well: the
 * next generation starts at a fresh random value, and until Redis can store one, reads of the
 * scope fail (misses that store nothing).
 *
 * KEYS[1] generation key. ARGV[1] fresh random integer, ARGV[2] generation TTL in ms. Returns 1
 * when bumped, 2 when Redis refused and the key was deleted instead.
 *
 * @internal
 */
export const invalidate = script(`${current}local counter = mine and string.sub(generation, 18)
local next
if counter and string.len(counter) < 16 and string.match(counter, "^%d+$") then
  next = prefix .. string.format("%d", tonumber(counter) + 1)
else
  next = prefix .. ARGV[1]
end
local reply = redis.pcall("SET", KEYS[1], next, "PX", ARGV[2])
if type(reply) == "table" and reply.err then
  redis.call("DEL", KEYS[1])
  return 2
end
return 1
`)

/**
 * The epoch alone, asked on every new connection: it tells whether the server is a master, lets
 * INFO be denied by an ACL show up at once, and a change of data set be logged.
 *
 * @internal
 */
export const probe = script(`${epoch}return prefix
`)
