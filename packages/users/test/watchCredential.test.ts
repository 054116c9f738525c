import { assert, describe, it } from "@effect/vitest"
import { type TinkClient, TinkError } from "@tink-effect/core"
import { Sandbox } from "@tink-effect/sandbox"
import * as SandboxClient from "@tink-effect/sandbox/SandboxClient"
import { type Ids, Users, WatchCredential } from "@tink-effect/users"
import { Chunk, Effect, Either, Fiber, Stream, TestClock } from "effect"
import { count, withClock } from "./utils.js"

type Update = WatchCredential.CredentialStatusUpdate
type User = SandboxClient.SeededUser

const credentialPath = (id: string) => `/api/v1/credentials/${id}`

/** The sandbox moves a credential to `status` (as Tink would, with `statusUpdated` now). */
const setStatus = (user: User, id: Ids.CredentialId, status: string, supplementalInformation?: string) =>
  Effect.flatMap(Sandbox.Sandbox, (sandbox) =>
    sandbox.setCredentialStatus(user.userId, id, {
      status,
      ...(supplementalInformation === undefined ? {} : { supplementalInformation })
    }))

/**
 * Collects a watch to its end, moving the TestClock a second at a time. After each element, a
 * (cached) list read must show the status the stream just emitted; `then` may move the sandbox on.
 */
const collect = (
  user: User,
  id: Ids.CredentialId,
  options?: WatchCredential.WatchCredentialOptions,
  then: (update: Update) => Effect.Effect<unknown, never, Sandbox.Sandbox | TinkClient.TinkClient> = () => Effect.void
) =>
  withClock(
    Users.asUser(user)(
      Users.watchCredential(id, options).pipe(
        Stream.tap((update) =>
          Effect.gen(function*() {
            const listed = (yield* Users.listCredentials()).find((credential) => credential.id === id)
            assert.strictEqual(listed?.status ?? "DELETED", update.status, "a list read agrees with the stream")
            yield* then(update)
          })
        ),
        Stream.runCollect,
        Effect.map(Chunk.toArray)
      )
    )
  )

/** Moves the TestClock by `millis`, 100 ms at a time, letting the polling fiber run between steps. */
const tick = (millis: number) =>
  Effect.gen(function*() {
    for (let elapsed = 0; elapsed < millis; elapsed += 100) {
      yield* TestClock.adjust("100 millis")
      yield* Effect.yieldNow()
    }
  })

const statuses = (updates: ReadonlyArray<Update>) => updates.map((update) => update.status)

describe("Users.watchCredential", () => {
  it.effect("follows a refresh AUTHENTICATING -> UPDATING -> UPDATED, list reads agreeing at each step", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser({ credentials: 1 })
      const id = user.credentials[0]!.id
      // A warm list entry (UPDATED) that only an invalidation can replace within its 30 s.
      yield* Users.asUser(user)(Users.listCredentials())
      yield* Users.asUser(user)(Users.refreshCredential(id))
      const updates = yield* collect(user, id)
      assert.deepStrictEqual(statuses(updates), ["AUTHENTICATING", "UPDATING", "UPDATED"])
      assert.deepStrictEqual(updates.map((update) => update.terminal), [false, false, true])
      assert.isTrue(updates.every((update) => !update.needsUser && !update.gone))
      assert.strictEqual(updates[2]!.credential.updated, 20_000)
    }).pipe(Effect.provide(SandboxClient.layer({ sandbox: { refreshStepMillis: 10_000 } }))))

  for (
    const terminal of [
      "UPDATED",
      "AUTHENTICATION_ERROR",
      "TEMPORARY_ERROR",
      "PERMANENT_ERROR",
      "DELETED",
      "SESSION_EXPIRED"
    ]
  ) {
    it.effect(`ends at ${terminal}, and polls no more`, () =>
      Effect.gen(function*() {
        const user = yield* SandboxClient.seedUser({ credentials: [{ status: "AUTHENTICATING" }] })
        const id = user.credentials[0]!.id
        yield* Users.asUser(user)(Users.listCredentials())
        const updates = yield* collect(
          user,
          id,
          undefined,
          (update) => update.status === "AUTHENTICATING" ? setStatus(user, id, terminal) : Effect.void
        )
        assert.deepStrictEqual(statuses(updates), ["AUTHENTICATING", terminal])
        assert.isTrue(updates[1]!.terminal)
        const polls = yield* count("GET", credentialPath(id))
        yield* TestClock.adjust("10 minutes")
        assert.strictEqual(yield* count("GET", credentialPath(id)), polls)
      }).pipe(Effect.provide(SandboxClient.layer())))
  }

  it.effect("surfaces the statuses that need the user with their supplementalInformation, each round", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser({ credentials: [{ status: "AUTHENTICATING" }] })
      const id = user.credentials[0]!.id
      const secondRound = JSON.stringify([{ name: "lastName", description: "Last name", optional: false }])
      let rounds = 0
      const updates = yield* collect(user, id, undefined, (update) => {
        switch (update.status) {
          case "AUTHENTICATING":
            return setStatus(user, id, "AWAITING_SUPPLEMENTAL_INFORMATION")
          case "AWAITING_SUPPLEMENTAL_INFORMATION":
            // Tink may ask again with the same status: a newer statusUpdated is news.
            return rounds++ === 0
              ? setStatus(user, id, "AWAITING_SUPPLEMENTAL_INFORMATION", secondRound)
              : setStatus(user, id, "AWAITING_THIRD_PARTY_APP_AUTHENTICATION")
          case "AWAITING_THIRD_PARTY_APP_AUTHENTICATION":
            return setStatus(user, id, "UPDATED")
          default:
            return Effect.void
        }
      })
      assert.deepStrictEqual(statuses(updates), [
        "AUTHENTICATING",
        "AWAITING_SUPPLEMENTAL_INFORMATION",
        "AWAITING_SUPPLEMENTAL_INFORMATION",
        "AWAITING_THIRD_PARTY_APP_AUTHENTICATION",
        "UPDATED"
      ])
      assert.deepStrictEqual(updates.map((update) => update.needsUser), [false, true, true, true, false])
      const [, first, second, app] = updates
      assert.strictEqual(first!.supplementalInformation?._tag, "Fields")
      if (first!.supplementalInformation?._tag === "Fields") {
        assert.deepStrictEqual(first!.supplementalInformation.fields.map((field) => field.name), ["otpValue"])
      }
      if (second!.supplementalInformation?._tag === "Fields") {
        assert.deepStrictEqual(second!.supplementalInformation.fields.map((field) => field.name), ["lastName"])
      } else assert.fail("the second round's fields")
      if (app!.supplementalInformation?._tag === "ThirdPartyApp") {
        assert.strictEqual(
          app!.supplementalInformation.payload.desktop?.url,
          `https://sandbox.invalid/third-party-app/${id}`
        )
      } else assert.fail("the third-party app payload")
      assert.isUndefined(updates[4]!.supplementalInformation)
    }).pipe(Effect.provide(SandboxClient.layer())))

  it.effect("a credential deleted while watched ends the stream with a DELETED element marked gone", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser({ credentials: [{ status: "AUTHENTICATING" }] })
      const id = user.credentials[0]!.id
      const updates = yield* collect(user, id, undefined, (update) =>
        update.status === "AUTHENTICATING"
          ? Effect.orDie(Users.asUser(user)(Users.deleteCredential(id)))
          : Effect.void)
      assert.deepStrictEqual(statuses(updates), ["AUTHENTICATING", "DELETED"])
      assert.deepInclude(updates[1]!, { gone: true, terminal: true, needsUser: false })
      assert.strictEqual(updates[1]!.credential.id, id)
    }).pipe(Effect.provide(SandboxClient.layer())))

  it.effect("an unknown credential fails at once with TinkNotFoundError", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser()
      const result = yield* Effect.either(collect(user, "0".repeat(32) as Ids.CredentialId))
      assert.isTrue(Either.isLeft(result) && result.left._tag === "TinkNotFoundError")
    }).pipe(Effect.provide(SandboxClient.layer())))

  it.effect("ends at once when the status is already terminal, and skips what `after` already saw", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser({ credentials: 1 })
      const id = user.credentials[0]!.id
      assert.deepStrictEqual(statuses(yield* collect(user, id)), ["UPDATED"])
      // Seeded UPDATED at t=0: a watch `after` it waits for the refresh started at t=3 s.
      const before = user.credentials[0]!.statusUpdated!
      const fiber = yield* Effect.fork(
        Users.asUser(user)(Stream.runCollect(Users.watchCredential(id, { after: before })))
      )
      yield* tick(3000)
      yield* Users.asUser(user)(Users.refreshCredential(id))
      yield* tick(30_000)
      const updates = Chunk.toArray(yield* Fiber.join(fiber))
      assert.deepStrictEqual(statuses(updates), ["AUTHENTICATING", "UPDATING", "UPDATED"])
    }).pipe(Effect.provide(SandboxClient.layer({ sandbox: { refreshStepMillis: 10_000 } }))))

  it.effect("backs off from interval by factor up to maxInterval, and starts again after news", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser({ credentials: [{ status: "AUTHENTICATING" }] })
      const id = user.credentials[0]!.id
      const polls = () => count("GET", credentialPath(id))
      const fiber = yield* Effect.fork(Users.asUser(user)(Stream.runDrain(Users.watchCredential(id))))
      while ((yield* polls()) === 0) yield* Effect.yieldNow()
      const pollsAt: Array<number> = []
      for (let tenth = 0; tenth <= 600; tenth++) {
        const before = yield* polls()
        yield* TestClock.adjust("100 millis")
        if ((yield* polls()) > before) pollsAt.push(tenth * 100 + 100)
      }
      // Polls at 0, then waits of 1, 1.5, 2.25, 3.375, 5.0625, 7.59375 s, then 10 s (the cap).
      assert.deepStrictEqual(pollsAt.slice(0, 9), [1000, 2500, 4800, 8200, 13200, 20800, 30800, 40800, 50800])
      yield* setStatus(user, id, "UPDATING")
      const after = yield* polls()
      // At 60.1 s: the poll at 60.78 s sees UPDATING, and the next comes 1 s (interval) later, not 10 s.
      yield* tick(1000)
      assert.strictEqual((yield* polls()) - after, 1)
      yield* tick(700)
      assert.strictEqual((yield* polls()) - after, 2)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(SandboxClient.layer())))

  it.effect("interruption stops polling at once", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser({ credentials: [{ status: "AUTHENTICATING" }] })
      const id = user.credentials[0]!.id
      const fiber = yield* Effect.fork(Users.asUser(user)(Stream.runDrain(Users.watchCredential(id))))
      yield* tick(5000)
      const polls = yield* count("GET", credentialPath(id))
      assert.isAbove(polls, 1)
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust("10 minutes")
      assert.strictEqual(yield* count("GET", credentialPath(id)), polls)
    }).pipe(Effect.provide(SandboxClient.layer())))

  it.effect("fails with a TinkTimeoutError after the total timeout, then polls no more", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser({ credentials: [{ status: "AUTHENTICATING" }] })
      const id = user.credentials[0]!.id
      const fiber = yield* Effect.fork(Effect.either(collect(user, id, { timeout: "30 seconds" })))
      const result = yield* Fiber.join(fiber)
      assert.isTrue(Either.isLeft(result))
      const error = Either.isLeft(result) ? result.left : undefined
      assert.instanceOf(error, TinkError.TinkTimeoutError)
      assert.match(String(error?.step), /watchCredential/)
      const polls = yield* count("GET", credentialPath(id))
      yield* TestClock.adjust("10 minutes")
      assert.strictEqual(yield* count("GET", credentialPath(id)), polls)
      // The default is 5 minutes.
      const start = yield* TestClock.currentTimeMillis
      const byDefault = yield* Effect.either(collect(user, id))
      assert.isTrue(Either.isLeft(byDefault) && byDefault.left._tag === "TinkTimeoutError")
      const took = (yield* TestClock.currentTimeMillis) - start
      assert.isTrue(took >= 300_000 && took <= 301_000, `timed out after ${took} ms`)
    }).pipe(Effect.provide(SandboxClient.layer())))

  it.effect("bad options fail with a TinkValidationError before any request", () =>
    Effect.gen(function*() {
      const user = yield* SandboxClient.seedUser({ credentials: 1 })
      const id = user.credentials[0]!.id
      for (
        const options of [
          { interval: "soon" },
          { interval: 0 },
          { maxInterval: -1 },
          { factor: 0.5 },
          { timeout: "nope" },
          { after: Number.NaN },
          null
        ]
      ) {
        const result = yield* Effect.either(
          Users.asUser(user)(
            Stream.runDrain(Users.watchCredential(id, options as WatchCredential.WatchCredentialOptions))
          )
        )
        assert.isTrue(Either.isLeft(result) && result.left._tag === "TinkValidationError", JSON.stringify(options))
      }
      assert.strictEqual(yield* count("GET", credentialPath(id)), 0)
    }).pipe(Effect.provide(SandboxClient.layer())))
})
