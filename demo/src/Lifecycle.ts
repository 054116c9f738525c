/**
 * The whole life of a Tink user, step by step, with what the cache did at each step: the main
 * job behind `npm start`, and a runnable tour of the library. Part of the private demo workspace:
 * not published.
 *
 * @since 0.1.0
 */
import { ResponseCache, TinkClient } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import { Users } from "@tink-effect/users"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/**
 * One printed step: what ran, what the cache did, and how many requests reached Tink.
 *
 * @since 0.1.0
 * @category models
 */
export interface Step {
  readonly name: string
  readonly cache: "hit" | "miss" | "coalesced" | "invalidated" | "-"
  /** Requests the sandbox served during the step; undefined against real Tink (not countable). */
  readonly requests: number | undefined
  readonly detail: string
}

const outcomeOf = (before: ResponseCache.Stats, after: ResponseCache.Stats): Step["cache"] => {
  if (after.invalidations > before.invalidations) return "invalidated"
  if (after.coalesced > before.coalesced) return "coalesced"
  if (after.misses > before.misses) return "miss"
  if (after.hits > before.hits) return "hit"
  return "-"
}

/**
 * Runs the lifecycle and reports each step to `onStep` as it finishes. With the sandbox in
 * context a bank credential is seeded after the user is created (in real life the user connects
 * a bank in Tink Link); against real Tink the credential steps run on whatever the user has.
 *
 * @since 0.1.0
 * @category programs
 */
export const run = (onStep: (step: Step) => Effect.Effect<void>, market = "SE") =>
  Effect.gen(function*() {
    const sandbox = yield* Effect.serviceOption(Sandbox.Sandbox)
    const served = Option.match(sandbox, { onNone: () => Effect.succeed(0), onSome: (s) => s.totalRequests })
    const step = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>, detail: (a: A) => string = () => "") =>
      Effect.gen(function*() {
        const [statsBefore, requestsBefore] = [yield* ResponseCache.stats, yield* served]
        const result = yield* effect
        const [statsAfter, requestsAfter] = [yield* ResponseCache.stats, yield* served]
        yield* onStep({
          name,
          cache: outcomeOf(statsBefore, statsAfter),
          requests: Option.isSome(sandbox) ? requestsAfter - requestsBefore : undefined,
          detail: detail(result)
        })
        return result
      })

    const user = yield* step("create user", Users.createUser({ market }), () => "app token, user:create")
    if (Option.isSome(sandbox)) yield* sandbox.value.addCredential(user.userId, { providerName: "se-demobank" })
    const grant = yield* step(
      "authorization grant",
      Users.createAuthorization({
        userId: user.userId,
        scope: "credentials:read,credentials:write,credentials:refresh"
      }),
      () => "app token, authorization:grant"
    )
    const token = yield* step("user token", Users.getUserAccessToken(grant.code), (t) => `expires in ${t.expiresIn} s`)
    const asUser = Users.asUser({ userId: user.userId, accessToken: token.accessToken })
    const count = (list: ReadonlyArray<{ readonly status?: string | undefined }>) =>
      `${list.length} credential(s)${list.length > 0 ? `, ${list.map((c) => c.status).join(", ")}` : ""}`
    const credentials = yield* step("list credentials", asUser(Users.listCredentials()), count)
    yield* step("list credentials", asUser(Users.listCredentials()), count)
    const first = credentials[0]
    if (first !== undefined) {
      yield* step("refresh credential", asUser(Users.refreshCredential(first.id)), () => "204")
      yield* step("list credentials", asUser(Users.listCredentials()), count)
      yield* step("delete credential", asUser(Users.deleteCredential(first.id)), () => "204")
    }
    yield* step("delete user", Users.deleteUser(user.userId), () => "grant + exchange for user:delete, then 204")
    return yield* ResponseCache.stats
  })

/**
 * A step as one aligned line of the printed table.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatStep = (step: Step): string =>
  `${step.name.padEnd(20)} ${step.cache.padEnd(12)} ${String(step.requests ?? "n/a").padStart(8)}   ${step.detail}`
    .trimEnd()

/**
 * The table header matching `formatStep`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const header = `${"step".padEnd(20)} ${"cache".padEnd(12)} ${"requests".padStart(8)}   detail`

/**
 * The closing line of cache counters.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatStats = (stats: ResponseCache.Stats): string =>
  `cache: ${stats.hits} hit(s), ${stats.misses} miss(es), ${stats.coalesced} coalesced, ` +
  `${stats.invalidations} invalidation(s), hit rate ${Math.round(stats.hitRate * 100)}%`

/**
 * Needs the Tink client and a cache; the sandbox is optional.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = TinkClient.TinkClient | ResponseCache.ResponseCache
