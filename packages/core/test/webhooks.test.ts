import { describe, expect, it } from "@effect/vitest"
import { ResponseCache, TinkUser, TinkWebhooks } from "@tink-effect/core"
import { Clock, Effect, Either, FastCheck as fc, Redacted, TestClock } from "effect"
import { createHmac } from "node:crypto"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const secret = Redacted.make("whsec-test-secret")
const now = 1_790_000_000 // unix seconds

/** Signs as Tink's docs describe, with node:crypto: independent of the module's own HMAC. */
const tinkSign = (key: string, t: string, body: string) =>
  createHmac("sha256", key).update(`${t}.${body}`).digest("hex")

const event = (userId: string, credentialsId: string, finished = now * 1000) =>
  JSON.stringify({
    context: { userId, externalUserId: "ext-1" },
    content: { credentialsId, credentialsStatus: "UPDATED", finished, source: "OPERATIONAL", detailedError: null },
    event: "refresh:finished"
  })

const ids = fc.stringMatching(/^[a-f0-9]{8,32}$/)
const bodies = fc.tuple(ids, ids, fc.integer({ min: 0, max: 2 ** 40 })).map(([u, c, f]) => event(u, c, f))

/** A clock stopped at one instant: a property runs thousands of checks synchronously. */
const clockAt = (millis: number): Clock.Clock => ({
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: () => millis,
  currentTimeMillis: Effect.succeed(millis),
  unsafeCurrentTimeNanos: () => BigInt(millis) * 1_000_000n,
  currentTimeNanos: Effect.succeed(BigInt(millis) * 1_000_000n),
  sleep: () => Effect.void
})

/** Runs `verify` at `nowSeconds` on a fixed `Clock`, synchronously, as an Either. */
const verifier = Effect.sync(() => {
  const verify = TinkWebhooks.verify({ secret })
  return (nowSeconds: number, header: string | undefined, body: string) =>
    Effect.runSync(
      Effect.withClock(
        Effect.either(verify(header === undefined ? {} : { "X-Tink-Signature": header }, body)),
        clockAt(nowSeconds * 1000)
      )
    )
})

const reasonOf = (result: Either.Either<unknown, TinkWebhooks.TinkWebhookError>) =>
  Either.isLeft(result) ? result.left.reason : "accepted"

describe("TinkWebhooks.verify", () => {
  it.effect("accepts every delivery signed as Tink's docs describe: extra keys, several v1, any skew in tolerance", () =>
    Effect.gen(function*() {
      const run = yield* verifier
      fc.assert(
        fc.property(bodies, fc.integer({ min: -300, max: 300 }), fc.boolean(), (body, skew, rotated) => {
          const t = String(now)
          const good = tinkSign(Redacted.value(secret), t, body)
          const other = tinkSign("an-old-secret", t, body)
          const header = rotated ? `t=${t},v1=${other},v0=ignored,v1=${good}` : `t=${t},v1=${good}`
          const result = run(now + skew, header, body)
          expect(reasonOf(result)).toBe("accepted")
          if (Either.isRight(result)) expect(result.right.event._tag).toBe("RefreshFinished")
        })
      )
    }))

  it.effect("rejects every tampered variant: body, t, v1, header shape, stale", () =>
    Effect.gen(function*() {
      const run = yield* verifier
      const t = String(now)
      fc.assert(
        fc.property(bodies, fc.integer({ min: 0, max: 1_000_000 }), (body, n) => {
          const v1 = tinkSign(Redacted.value(secret), t, body)
          // Body: one character changed, added or removed.
          const at = n % body.length
          const flipped = body.slice(0, at) + String.fromCharCode(body.charCodeAt(at) ^ 1) + body.slice(at + 1)
          expect(reasonOf(run(now, `t=${t},v1=${v1}`, flipped))).toBe("InvalidSignature")
          expect(reasonOf(run(now, `t=${t},v1=${v1}`, body + " "))).toBe("InvalidSignature")
          // t: another second, same v1.
          expect(reasonOf(run(now, `t=${now + 1 + (n % 200)},v1=${v1}`, body))).toBe("InvalidSignature")
          // v1: one hex digit changed; or signed with another secret; or the HMAC of the body alone.
          const digit = n % 64
          const tampered = v1.slice(0, digit) + ((parseInt(v1[digit]!, 16) + 1) % 16).toString(16) +
            v1.slice(digit + 1)
          expect(reasonOf(run(now, `t=${t},v1=${tampered}`, body))).toBe("InvalidSignature")
          expect(reasonOf(run(now, `t=${t},v1=${tinkSign("wrong", t, body)}`, body))).toBe("InvalidSignature")
          const bodyOnly = createHmac("sha256", Redacted.value(secret)).update(body).digest("hex")
          expect(reasonOf(run(now, `t=${t},v1=${bodyOnly}`, body))).toBe("InvalidSignature")
          // Header shape: missing, the whole-value comparison the Elixir library made, no t, no v1, two t, junk.
          expect(reasonOf(run(now, undefined, body))).toBe("MissingSignature")
          for (
            const header of [
              v1,
              `v1=${v1}`,
              `t=${t}`,
              `t=${t},t=${t},v1=${v1}`,
              `t=${t};v1=${v1}`,
              `t=x${t},v1=${v1}`,
              `t=${t},v1=${v1},junk`,
              ""
            ]
          ) {
            expect(reasonOf(run(now, header, body)), header).toBe("MalformedSignature")
          }
          // Stale (or from the future) beyond 5 minutes, though genuinely signed.
          const drift = 301 + (n % 100_000)
          expect(reasonOf(run(now + drift, `t=${t},v1=${v1}`, body))).toBe("StaleTimestamp")
          expect(reasonOf(run(now - drift, `t=${t},v1=${v1}`, body))).toBe("StaleTimestamp")
        })
      )
    }))

  it.effect("bounds the body, rejects malformed bodies after checking the signature, keeps unknown events", () =>
    Effect.gen(function*() {
      const run = yield* verifier
      const t = String(now)
      const signed = (body: string) => run(now, `t=${t},v1=${tinkSign(Redacted.value(secret), t, body)}`, body)
      expect(reasonOf(signed("x".repeat(1024 * 1024 + 1)))).toBe("BodyTooLarge")
      expect(reasonOf(signed("{not json"))).toBe("MalformedBody")
      expect(reasonOf(signed(JSON.stringify({ content: {} })))).toBe("MalformedBody")
      const unknown = signed(JSON.stringify({ context: { userId: "u1" }, content: { a: 1 }, event: "account:updated" }))
      expect(Either.getOrThrow(unknown).event).toEqual({
        _tag: "UnknownEvent",
        event: "account:updated",
        userId: "u1",
        content: { a: 1 }
      })
      // refresh:finished without the documented fields is kept as unknown, not guessed at.
      const partial = signed(JSON.stringify({ context: { userId: "u1" }, content: {}, event: "refresh:finished" }))
      expect(Either.getOrThrow(partial).event._tag).toBe("UnknownEvent")
    }))

  it("never shows the secret or the expected signature in an error", () => {
    const error = new TinkWebhooks.TinkWebhookError({ reason: "InvalidSignature" })
    expect(error.message).toBe("Tink webhook rejected: InvalidSignature")
    expect(JSON.stringify(error)).not.toContain(Redacted.value(secret))
  })
})

describe("TinkWebhooks.make", () => {
  const handler = TinkWebhooks.make({ secret, dedupeCapacity: 2 }).pipe(
    Effect.provide(ResponseCache.layerMemory({ capacity: 100 }))
  )

  it.effect("invalidates the user's scope once per event; repeats, unknown events and bad input change nothing", () =>
    Effect.gen(function*() {
      const cache = ResponseCache.layerMemory({ capacity: 100 })
      yield* Effect.gen(function*() {
        const webhooks = yield* TinkWebhooks.make({ secret, dedupeCapacity: 2 })
        yield* TestClock.setTime(now * 1000)
        const invalidations = Effect.map(ResponseCache.stats, (s) => s.invalidations)
        const deliver = (body: string, t = String(now)) =>
          webhooks.handle({ "x-tink-signature": TinkWebhooks.sign(secret, Number(t), body) }, body)

        const body = event("user-1", "cred-1")
        const first = yield* deliver(body)
        expect(first.duplicate).toBe(false)
        expect(first.invalidated).toEqual([TinkUser.scopeOfUser("user-1"), TinkUser.unnamedSessionsScope])
        expect(yield* invalidations).toBe(2)

        // Replayed (Tink's redelivery, re-signed later, or the same request again): no second invalidation.
        const again = yield* deliver(body, String(now + 30))
        expect(again.duplicate).toBe(true)
        expect(yield* invalidations).toBe(2)

        const unknown = yield* deliver(JSON.stringify({ context: { userId: "user-1" }, event: "account:created" }))
        expect(unknown.invalidated).toEqual([])
        expect(yield* invalidations).toBe(2)

        const forged = yield* Effect.flip(
          webhooks.handle({ "x-tink-signature": `t=${now},v1=${"0".repeat(64)}` }, body)
        )
        expect(forged.reason).toBe("InvalidSignature")
        expect(yield* invalidations).toBe(2)

        // The memory is bounded: once two newer ids pushed it out, the id counts as new again.
        yield* deliver(event("user-2", "cred-2"))
        yield* deliver(event("user-3", "cred-3"))
        expect((yield* deliver(body)).duplicate).toBe(false)
      }).pipe(Effect.provide(cache))
    }))

  it.effect("exposes the same verification as the plain function", () =>
    Effect.gen(function*() {
      const webhooks = yield* handler
      yield* TestClock.setTime(now * 1000)
      const body = event("user-1", "cred-1")
      const delivery = yield* webhooks.verify({ "x-tink-signature": TinkWebhooks.sign(secret, now, body) }, body)
      expect(delivery.event).toMatchObject({ _tag: "RefreshFinished", userId: "user-1", credentialsId: "cred-1" })
    }))
})

/** Tink's documented examples (contract/tink/webhooks/webhooks.json, each with its page and section). */
const documented = JSON.parse(
  readFileSync(fileURLToPath(new URL("../../../contract/tink/webhooks/webhooks.json", import.meta.url)), "utf8")
) as {
  readonly examples: ReadonlyArray<{
    readonly name: string
    readonly header?: string
    readonly secret?: string
    readonly timestamp?: string
    readonly rawBody?: string
    readonly expectedSignature?: string
    readonly body?: unknown
  }>
}
const documentedExample = (name: string) => {
  const found = documented.examples.find((example) => example.name === name)
  if (found === undefined) throw new Error(`no documented example ${name}`)
  return found
}

describe("TinkWebhooks: Tink's documented examples", () => {
  const signature = documentedExample("signature-validation")
  const docSecret = Redacted.make(signature.secret!)
  const docTime = Number(signature.timestamp!)

  it.effect("the signature page's example verifies at its time, and is stale 5 min + 1 s later", () =>
    Effect.gen(function*() {
      expect(tinkSign(signature.secret!, signature.timestamp!, signature.rawBody!)).toBe(signature.expectedSignature)
      expect(TinkWebhooks.sign(docSecret, docTime, signature.rawBody!)).toBe(signature.header)
      // The page's body is elided (`{...}`), so not JSON: the signature passes, the body does not.
      const check = TinkWebhooks.verify({ secret: docSecret })
      const headers = { "X-Tink-Signature": signature.header! }
      yield* TestClock.setTime(docTime * 1000)
      expect((yield* Effect.flip(check(headers, signature.rawBody!))).reason).toBe("MalformedBody")
      expect((yield* Effect.flip(check(headers, signature.rawBody!.replace("  ", " ")))).reason).toBe(
        "InvalidSignature"
      )
      // The page's threshold, "no less than 5 minutes": 300 s is still accepted, 301 s is not.
      yield* TestClock.adjust("300 seconds")
      expect((yield* Effect.flip(check(headers, signature.rawBody!))).reason).toBe("MalformedBody")
      yield* TestClock.adjust("1 second")
      expect((yield* Effect.flip(check(headers, signature.rawBody!))).reason).toBe("StaleTimestamp")
    }))

  const deliverDocumented = (name: string) =>
    Effect.gen(function*() {
      const webhooks = yield* TinkWebhooks.make({ secret: docSecret })
      yield* TestClock.setTime(docTime * 1000)
      const body = JSON.stringify(documentedExample(name).body)
      const header = `t=${docTime},v1=${tinkSign(signature.secret!, String(docTime), body)}`
      const outcome = yield* webhooks.handle({ "X-Tink-Signature": header }, body)
      return { outcome, invalidations: (yield* ResponseCache.stats).invalidations }
    }).pipe(Effect.provide(ResponseCache.layerMemory({ capacity: 100 })))

  it.effect("the message-structure example is refresh:finished for the context user, status kept as sent", () =>
    Effect.gen(function*() {
      const { invalidations, outcome } = yield* deliverDocumented("message-structure")
      expect(outcome.delivery.event).toEqual({
        _tag: "RefreshFinished",
        userId: "3db31bdcc75555c4f0b8952984a9bd4f",
        externalUserId: "f1b3688c649946cc8ee163d1554e853e",
        credentialsId: "9sd7f9kak102783dkd11j242hmhja8",
        credentialsStatus: "STATUS_UPDATED",
        finished: 1618395156625
      })
      expect(outcome.invalidated).toEqual([
        TinkUser.scopeOfUser("3db31bdcc75555c4f0b8952984a9bd4f"),
        TinkUser.unnamedSessionsScope
      ])
      expect(invalidations).toBe(2)
    }))

  it.effect("the refresh:finished page's older example (no context, user in `webhook`) invalidates that user", () =>
    Effect.gen(function*() {
      const { invalidations, outcome } = yield* deliverDocumented("refresh-finished-error")
      expect(outcome.delivery.event).toEqual({
        _tag: "RefreshFinished",
        userId: "af947e794c0641079a876dcec51a419a",
        externalUserId: "100058962",
        credentialsId: "abe129ab439c4b9dbb71499a256ce4a5",
        credentialsStatus: "AUTHENTICATION_ERROR",
        finished: 1619007274295
      })
      expect(invalidations).toBe(2)
    }))

  it("the field table's variants: `finished` as a string, only the deprecated `status`, context user first", () => {
    const t = String(now)
    const run = (body: unknown) => {
      const raw = JSON.stringify(body)
      return Effect.runSync(Effect.withClock(
        TinkWebhooks.verify({ secret })(
          { "x-tink-signature": `t=${t},v1=${tinkSign(Redacted.value(secret), t, raw)}` },
          raw
        ),
        clockAt(now * 1000)
      )).event
    }
    expect(run({
      context: { userId: "u1" },
      content: { credentialsId: "c1", status: "UPDATED", finished: "1618395156625" },
      event: "refresh:finished"
    })).toMatchObject({ _tag: "RefreshFinished", userId: "u1", credentialsStatus: "UPDATED", finished: 1618395156625 })
    expect(run({
      context: { userId: "u1" },
      webhook: { userId: "u2" },
      content: { credentialsId: "c1", credentialsStatus: "UPDATED", finished: "not a date" },
      event: "refresh:finished"
    })).toMatchObject({ _tag: "RefreshFinished", userId: "u1", finished: undefined })
    // A `webhook` field of another shape is ignored, not refused.
    expect(run({
      context: { userId: "u1" },
      webhook: "v2 sends none",
      content: { credentialsId: "c1", credentialsStatus: "UPDATED" },
      event: "refresh:finished"
    })).toMatchObject({ _tag: "RefreshFinished", userId: "u1" })
  })
})
