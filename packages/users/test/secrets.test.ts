import { assert, describe, it } from "@effect/vitest"
import { ResponseCache } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import { Ids, Users } from "@tink-effect/users"
import { Cause, Effect, Layer, Option, Redacted, Schema } from "effect"
import { as, clientSecret, seedUser, testLayer, withClock } from "./utils.js"

/** A store that keeps everything as a shared store would (encoded text), so it can be inspected. */
const recordingStore = () => {
  const written: Array<string> = []
  const entries = new Map<string, string>()
  const store: ResponseCache.Store = {
    read: (scope, key, schema) =>
      Effect.sync(() => {
        const text = entries.get(`${scope} ${key}`)
        return {
          generation: "1",
          value: text === undefined ? Option.none() : Option.some(Schema.decodeUnknownSync(schema)(JSON.parse(text)))
        }
      }),
    write: (entry) =>
      Effect.sync(() => {
        const text = JSON.stringify(Schema.encodeSync(entry.schema)(entry.value))
        written.push(entry.scope, entry.key, text)
        entries.set(`${entry.scope} ${entry.key}`, text)
      }),
    invalidate: (scope) =>
      Effect.sync(() => {
        written.push(scope)
        for (const key of Array.from(entries.keys())) if (key.startsWith(`${scope} `)) entries.delete(key)
      }),
    size: Effect.sync(() => entries.size),
    errors: Effect.succeed(0)
  }
  return { written, layer: ResponseCache.layerStore(Effect.succeed(store)) }
}

const describeError = (error: unknown): string =>
  [String(error), (error as Error).message, JSON.stringify(error), Cause.pretty(Cause.fail(error))].join("\n")

describe("no secret or token text in errors or cache keys", () => {
  const recording = recordingStore()
  const layer = testLayer({ cache: recording.layer as Layer.Layer<ResponseCache.ResponseCache> })

  it.effect("errors of every kind, and every cache key and value, are free of secrets and tokens", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const user = yield* seedUser(1)
      const sessionOnly = Users.asUser({ accessToken: user.token })
      yield* as(user)(Users.listCredentials())
      yield* sessionOnly(Users.listCredentials())
      yield* as(user)(Users.getCredential(user.credentials[0].id))
      const { userId } = yield* Users.createUser({ market: "SE" })
      const grant = yield* Users.createAuthorization({ userId, scope: "credentials:read" })
      const exchanged = yield* Users.getUserAccessToken(grant.code)

      const errors: Array<unknown> = []
      const collect = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.flatMap(Effect.flip(effect), (e) => Effect.sync(() => errors.push(e)))
      yield* collect(Users.getUserAccessToken(grant.code)) // used code: 400
      yield* collect(
        Users.asUser({ userId: Ids.UserId.make("u1"), accessToken: Redacted.make("not-a-token-xyz") })(
          Users.listCredentials()
        )
      )
      yield* sandbox.setFaults([{ path: "/api/v1/oauth/token", times: 1, fault: { _tag: "WrongShape" } }])
      const second = yield* Users.createAuthorization({ userId, scope: "credentials:read" })
      yield* collect(Users.getUserAccessToken(second.code))
      yield* sandbox.setFaults([{ path: "/api/v1/credentials/list", fault: { _tag: "Drop" } }])
      yield* collect(withClock(as(user)(Users.listCredentials().pipe(ResponseCache.bypass))))
      yield* sandbox.setFaults([{ path: "/api/v1/credentials/list", fault: { _tag: "MalformedJson" } }])
      yield* collect(as(user)(Users.listCredentials().pipe(ResponseCache.bypass)))
      yield* sandbox.clearFaults
      assert.strictEqual(errors.length, 5)

      const tokens = new Set<string>([clientSecret, Redacted.value(user.token), Redacted.value(exchanged.accessToken)])
      tokens.add(Redacted.value(grant.code))
      tokens.add(Redacted.value(second.code))
      for (const request of yield* sandbox.requests) {
        const bearer = request.headers.authorization?.replace(/^Bearer /, "")
        if (bearer !== undefined) tokens.add(bearer)
      }
      assert.isAbove(tokens.size, 5)
      const haystacks = [
        ...errors.map(describeError),
        ...recording.written,
        String(exchanged),
        JSON.stringify(exchanged)
      ]
      for (const secret of tokens) {
        for (const text of haystacks) assert.notInclude(text, secret)
      }
      assert.isAbove(recording.written.length, 0)
    }).pipe(Effect.provide(layer)))
})
