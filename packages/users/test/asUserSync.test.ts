import { describe, expect, it } from "@effect/vitest"
import { TinkError, TinkUser } from "@tink-effect/core"
import { Ids, Users } from "@tink-effect/users"
import { Effect, Either, Redacted } from "effect"
import { createHash } from "node:crypto"

const sessionOf = (options: Users.SessionOptions) => Users.asUser(TinkUser.TinkUser, options)

describe("asUser builds its session without a promise or a fiber", () => {
  it("runs under runSync and gives the session TinkUser.make gives", () => {
    // With crypto.subtle behind it, asUser was asynchronous: runSync threw an AsyncFiberException.
    const token = Redacted.make("per-request-token")
    const session = Effect.runSync(sessionOf({ userId: Ids.UserId.make("user-1"), accessToken: token }))
    expect(session).toEqual(TinkUser.makeSync({ userId: "user-1", accessToken: token }))
    expect(session.tokenHash).toBe(createHash("sha256").update("per-request-token").digest("hex").slice(0, 32))
    const unnamed = Effect.runSync(sessionOf({ accessToken: token }))
    expect(unnamed.scope).toBe(`t:${createHash("sha256").update("per-request-token").digest("hex")}`)
  })

  it("still rejects malformed options with a TinkValidationError, synchronously", () => {
    const cases: ReadonlyArray<readonly [unknown, string]> = [
      [{ userId: "a b", accessToken: Redacted.make("t") }, "userId"],
      [{ userId: "u", accessToken: "plain" }, "accessToken must be Redacted"],
      [{ userId: "u", accessToken: Redacted.make(42) }, "accessToken"],
      [null, "options"],
      [{
        get accessToken(): never {
          throw new Error("hostile")
        }
      }, "options could not be read"]
    ]
    for (const [options, message] of cases) {
      const result = Effect.runSync(Effect.either(sessionOf(options as Users.SessionOptions)))
      expect(Either.isLeft(result)).toBe(true)
      const error = Either.getLeft(result).pipe((o) => o._tag === "Some" ? o.value : undefined)
      expect(error).toBeInstanceOf(TinkError.TinkValidationError)
      expect((error as TinkError.TinkValidationError).errorMessage).toContain(message)
    }
  })

  it("a wiped token is bad input, never a defect", () => {
    const token = Redacted.make("to-be-wiped")
    Redacted.unsafeWipe(token)
    const result = Effect.runSync(Effect.either(sessionOf({ userId: Ids.UserId.make("u"), accessToken: token })))
    expect(Either.isLeft(result)).toBe(true)
  })

  it("reads each option once, so a getter cannot pass the check and then change", () => {
    let reads = 0
    const options = {
      userId: Ids.UserId.make("user-1"),
      get accessToken() {
        reads++
        return reads === 1 ? Redacted.make("first") : "plain" as never
      }
    }
    const session = Effect.runSync(sessionOf(options))
    expect(reads).toBe(1)
    expect(Redacted.value(session.accessToken)).toBe("first")
  })
})
