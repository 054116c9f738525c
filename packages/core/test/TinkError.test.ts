import { assert, describe, it } from "@effect/vitest"
import { TinkError } from "@tink-effect/core"
import { Effect } from "effect"

describe("TinkError", () => {
  it.effect("each case is catchable by its tag", () =>
    Effect.gen(function*() {
      const caught = yield* Effect.fail(new TinkError.TinkNotFoundError({ method: "GET", path: "/x", status: 404 }))
        .pipe(
          Effect.catchTag("TinkNotFoundError", (e) => Effect.succeed(e.status))
        )
      assert.strictEqual(caught, 404)
    }))

  it("builds its message from the context", () => {
    const error = new TinkError.TinkRateLimitError({
      method: "POST",
      path: "/api/v1/user/create",
      status: 429,
      errorCode: "RATE_LIMITED",
      errorMessage: "slow down",
      requestId: "req-1"
    })
    assert.include(error.message, "POST /api/v1/user/create")
    assert.include(error.message, "429")
    assert.include(error.message, "req-1")
    assert.isTrue(TinkError.isTinkError(error))
    assert.isFalse(TinkError.isTinkError(new Error("x")))
  })
})
