/**
 * The memory store's bookkeeping stays bounded by its capacity whatever the churn of tokens and
 * scopes (issue 10.8): every map it keeps is counted after heavy churn, no timing or heap figure.
 */
import { assert, describe, it } from "@effect/vitest"
import { ResponseCache } from "@tink-effect/core"
import { Duration, Effect, Schema, TestClock } from "effect"
import * as MemoryStore from "../src/internal/memoryStore.js"

const capacity = 10
/** The store's own bound on scope records: max(1024, 2 x capacity). */
const maxScopes = 1024

const churn = (
  options: {
    readonly rounds: number
    readonly scope: (round: number) => string
    readonly invalidateEvery?: number
  }
) =>
  Effect.gen(function*() {
    const store = MemoryStore.make(capacity)
    const cache = yield* ResponseCache.make(store)
    for (let round = 0; round < options.rounds; round++) {
      const scope = options.scope(round)
      // A session with a fresh token each round: a new partition every time.
      for (const key of ["GET /api/v1/credentials/list", "GET /api/v1/user"]) {
        yield* cache.lookup({
          scope,
          partition: `token-${round}`,
          key,
          ttl: Duration.minutes(5),
          schema: Schema.Number,
          fetch: Effect.succeed(round)
        })
      }
      if (options.invalidateEvery !== undefined && round % options.invalidateEvery === 0) {
        yield* cache.invalidate(scope)
      }
    }
    return store.census()
  }).pipe(Effect.scoped)

describe("memory store bookkeeping (10.8)", () => {
  it.effect("rotating tokens of one user leave no empty partition behind", () =>
    Effect.gen(function*() {
      const census = yield* churn({ rounds: 5_000, scope: () => "u:1" })
      assert.strictEqual(census.entries, capacity)
      assert.strictEqual(census.scopes, 1)
      assert.isAtMost(census.partitions, capacity)
    }))

  it.effect("rotating tokens and scopes, with invalidations, stay bounded", () =>
    Effect.gen(function*() {
      const census = yield* churn({ rounds: 5_000, scope: (round) => `u:${round % 3_000}`, invalidateEvery: 7 })
      assert.strictEqual(census.entries, capacity)
      assert.isAtMost(census.scopes, maxScopes)
      assert.isAtMost(census.partitions, capacity)
    }))

  it.effect("entries that expire and are read again leave nothing behind", () =>
    Effect.gen(function*() {
      const store = MemoryStore.make(capacity)
      const cache = yield* ResponseCache.make(store)
      const read = (partition: string) =>
        cache.lookup({
          scope: "u:1",
          partition,
          key: "GET /a",
          ttl: Duration.seconds(1),
          schema: Schema.Number,
          fetch: Effect.succeed(1)
        })
      for (let i = 0; i < 5; i++) yield* read(`token-${i}`)
      assert.strictEqual(store.census().partitions, 5)
      yield* TestClock.adjust("2 seconds")
      // The next read of each finds its entry expired and takes it out, then stores a fresh one
      // with a TTL of 0 for the others.
      for (let i = 0; i < 5; i++) {
        yield* cache.lookup({
          scope: "u:1",
          partition: `token-${i}`,
          key: "GET /a",
          ttl: Duration.zero,
          schema: Schema.Number,
          fetch: Effect.succeed(1)
        })
      }
      assert.deepStrictEqual(store.census(), { entries: 0, scopes: 1, partitions: 0 })
    }).pipe(Effect.scoped))
})
