import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { NodeTink } from "@tink-effect/platform-node"
import { Users } from "@tink-effect/users"
import { Effect } from "effect"

const program = Effect.gen(function*() {
  // App-level calls use the app's client token, fetched and renewed for you.
  const { userId } = yield* Users.createUser({ market: "SE" })
  const grant = yield* Users.createAuthorization({ userId, scope: "credentials:read" })
  const token = yield* Users.getUserAccessToken(grant.code)

  // User-level calls need a session; reads are cached per user for 30 seconds.
  const credentials = yield* Users.listCredentials().pipe(
    Users.asUser({ userId, accessToken: token.accessToken })
  )
  yield* Effect.log(`${credentials.length} credential(s)`)
})

// TINK_CLIENT_ID, TINK_CLIENT_SECRET, optional TINK_BASE_URL and TINK_REDIS_URL.
program.pipe(Effect.provide(NodeTink.layerEnv), NodeRuntime.runMain)
