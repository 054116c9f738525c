import type { ResponseCache } from "@tink-effect/core"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Connection from "./redisConnection.js"
import * as Entries from "./redisEntries.js"
import { makeErrorCount } from "./redisErrors.js"
import * as Redelivery from "./redisRedelivery.js"
import * as ServerCheck from "./redisServerCheck.js"
import * as Settings from "./redisSettings.js"
import * as Size from "./redisSize.js"

const miss: ResponseCache.StoreRead<never> = { generation: undefined, value: Option.none() }

/**
 * The Redis store, put together from its parts: `redisSettings` (options and defaults),
 * `redisConnection` (the node-redis client, its bounded commands and its lifecycle),
 * `redisServerCheck` (what the server is: master, epoch, ACL), `redisEntries` (the read, write
 * and bump scripts), `redisRedelivery` and `redisLastDelivery` (invalidations Redis has not
 * taken yet) and `redisSize` (the count for `stats`). Documented in `RedisResponseStore.make`.
 *
 * @internal
 */
export const make = (
  options: Settings.Options = {}
): Effect.Effect<ResponseCache.Store, ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* Settings.resolve(options)
    const errors = makeErrorCount()
    const server = yield* ServerCheck.make(settings.invalidationBound)
    const connection = yield* Connection.make(settings.url, settings.readBound, server.probe)
    const entries = Entries.make({ connection, settings, server, errors })
    // After the connection: its last delivery at close runs while the connection is still open.
    const invalidations = yield* Redelivery.make({
      bump: entries.bump,
      connection,
      errors,
      retrySchedule: settings.retrySchedule,
      lastDeliveryWait: settings.lastDeliveryWait
    })
    return {
      // An invalidation of the scope has not reached Redis: bypass the shared store.
      read: (scope, key, schema) =>
        Effect.suspend(() => invalidations.isPending(scope) ? Effect.succeed(miss) : entries.read(scope, key, schema)),
      write: (entry) => Effect.suspend(() => invalidations.isPending(entry.scope) ? Effect.void : entries.write(entry)),
      invalidate: invalidations.invalidate,
      size: Size.make(connection, settings.namespace),
      errors: errors.current
    } satisfies ResponseCache.Store
  })
