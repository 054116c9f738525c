/**
 * Tink's events (Events v2 webhooks), verified as Tink signs them and turned into cache
 * invalidations, so a list read after a bank refresh finishes is fresh on every instance that
 * shares the store.
 *
 * Signatures, as Tink's "Webhook signature validation" page describes them
 * (https://docs.tink.com/resources/api-setup/webhook-signature-validation, "How to verify a
 * signature"; the page's worked example is a test, with the fixture in
 * contract/tink/webhooks/webhooks.json):
 * - the `X-Tink-Signature` header holds comma-separated `key=value` elements, `t=<unix seconds>`
 *   and `v1=<hex>`; other keys are ignored ("1. Extract the timestamp and signatures");
 * - the signed message is the timestamp, a `.`, then the raw request body, exactly as received,
 *   and `v1` is its hex HMAC-SHA256 under the endpoint's secret ("2. Calculate the expected
 *   signature"); the secret is returned once, when the endpoint is created with a client token
 *   holding the `webhook-endpoints` scope (https://docs.tink.com/resources/api-setup/webhooks,
 *   "Setting up webhooks");
 * - a delivery matches when any of its `v1` values does: the page's parser keeps every `v1`, and
 *   it does not say whether several are sent (contract/tink/ASSUMPTIONS.md);
 * - a timestamp far from now is refused: the page says to keep the threshold "no less than 5
 *   minutes to allow for retries" ("3. Compare the signatures"), which is the default tolerance.
 *
 * Events. A delivery is `{ "context", "content", "event" }`, `context` being optional metadata
 * such as `userId` and `externalUserId` (https://docs.tink.com/resources/api-setup/webhooks,
 * "Message structure"). The one that concerns the Users API is `refresh:finished`
 * (https://docs.tink.com/resources/api-setup/event-refresh-finished, "Event content":
 * `credentialsId`, `credentialsStatus`, deprecated `status`, `finished`, `source`,
 * `sessionExpiryDate`, `detailedError`), sent when a credential's refresh ends, whatever its
 * outcome: the credential's status and `updated` change. Statuses are kept as sent (the message
 * example sends `STATUS_UPDATED`, outside the documented list). That page's own example is an
 * older shape with no `context` and the user in a `webhook` object: its `userId` is read when
 * there is no context user, since a needless invalidation costs one miss and a missed one serves
 * stale data. Account and transaction events (`account:*`, `account-transactions:*`, ...) and
 * any event not known here decode as `UnknownEvent` and change nothing: this library caches none
 * of their data.
 *
 * @since 0.2.0
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { constantTimeEqual, hmacSha256Hex } from "./internal/hmac.js"
import { sha256Hex } from "./internal/sha256.js"
import * as ResponseCache from "./ResponseCache.js"
import * as TinkUser from "./TinkUser.js"

/**
 * The header Tink signs deliveries in (lowercase, as Node and `@effect/platform` keep headers).
 *
 * @since 0.2.0
 * @category constants
 */
export const signatureHeader = "x-tink-signature"

/**
 * Why a delivery was refused. `MissingSignature`, `MalformedSignature`, `InvalidSignature` and
 * `StaleTimestamp` are about who sent it (HTTP 401); `BodyTooLarge` and `MalformedBody` about
 * what was sent (HTTP 400).
 *
 * @since 0.2.0
 * @category errors
 */
export type Reason =
  | "MissingSignature"
  | "MalformedSignature"
  | "InvalidSignature"
  | "StaleTimestamp"
  | "BodyTooLarge"
  | "MalformedBody"

/**
 * A delivery that was not accepted. Nothing was invalidated or remembered. The message names the
 * reason only: never the secret, the expected signature or the body.
 *
 * @since 0.2.0
 * @category errors
 */
export class TinkWebhookError extends Data.TaggedError("TinkWebhookError")<{ readonly reason: Reason }> {
  override get message(): string {
    return `Tink webhook rejected: ${this.reason}`
  }
}

/**
 * How deliveries are checked.
 *
 * @since 0.2.0
 * @category models
 */
export interface VerifyOptions {
  /** The webhook endpoint's secret, as Tink returned it when the endpoint was created. */
  readonly secret: Redacted.Redacted<string>
  /** How far `t` may be from now, either way. Default 5 minutes. */
  readonly tolerance?: Duration.DurationInput | undefined
  /** The largest body accepted, in bytes. Default 1 MiB. */
  readonly maxBodyBytes?: number | undefined
}

/**
 * Options of a handler: verification, and how many delivery ids it remembers to drop repeats.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options extends VerifyOptions {
  /** Delivery ids remembered to drop a repeated delivery. Default 10 000; the oldest go first. */
  readonly dedupeCapacity?: number | undefined
}

const UserRef = Schema.optional(Schema.NullOr(Schema.Struct({
  userId: Schema.optional(Schema.NullOr(Schema.String)),
  externalUserId: Schema.optional(Schema.NullOr(Schema.String))
})))

const Envelope = Schema.Struct({
  event: Schema.String,
  context: UserRef,
  // The older shape of the refresh:finished page's example: no `context`, the user in `webhook`.
  // Read leniently (decodeWebhookUser): a field the current shape does not document never refuses.
  webhook: Schema.optional(Schema.Unknown),
  content: Schema.optional(Schema.Unknown)
})

/** The table types `finished` as a string, the examples send a number: read both, never fail on it. */
const Millis = Schema.Union(Schema.Number, Schema.NumberFromString)

const RefreshFinishedContent = Schema.Struct({
  credentialsId: Schema.String,
  credentialsStatus: Schema.optional(Schema.NullOr(Schema.String)),
  // Deprecated, same values: the fallback when `credentialsStatus` is missing.
  status: Schema.optional(Schema.NullOr(Schema.String)),
  externalUserId: Schema.optional(Schema.NullOr(Schema.String)),
  finished: Schema.optional(Schema.Unknown)
})

/**
 * `refresh:finished`: a refresh of the user's credential ended (`credentialsStatus` says how).
 *
 * @since 0.2.0
 * @category models
 */
export interface RefreshFinished {
  readonly _tag: "RefreshFinished"
  readonly userId: string
  readonly externalUserId: string | undefined
  readonly credentialsId: string
  readonly credentialsStatus: string
  /** Epoch millis, when the refresh ended (undefined when absent or not a number). */
  readonly finished: number | undefined
}

/**
 * Any other event, kept with its name and user (when it has one) rather than refused.
 *
 * @since 0.2.0
 * @category models
 */
export interface UnknownEvent {
  readonly _tag: "UnknownEvent"
  readonly event: string
  readonly userId: string | undefined
  readonly content: unknown
}

/**
 * A verified, decoded event.
 *
 * @since 0.2.0
 * @category models
 */
export type Event = RefreshFinished | UnknownEvent

/**
 * A verified delivery: the event, and an id for it: a digest of the body, so a redelivery of the
 * same event has the same id (Tink documents no event id; a top-level string `id`, if one is ever
 * sent, is used instead).
 *
 * @since 0.2.0
 * @category models
 */
export interface Delivery {
  readonly id: string
  readonly timestamp: number
  readonly event: Event
}

/**
 * Headers as any framework holds them: a record (any case), or an object with `get`.
 *
 * @since 0.2.0
 * @category models
 */
export type HeadersInput =
  | Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  | { readonly get: (name: string) => string | null | undefined }

const headerOf = (headers: HeadersInput, name: string): string | undefined => {
  if (typeof headers.get === "function" && !Object.hasOwn(headers, "get")) {
    return (headers as { get: (name: string) => string | null | undefined }).get(name) ?? undefined
  }
  const record = headers as Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  for (const key of Object.keys(record)) {
    if (key.toLowerCase() !== name) continue
    const value = record[key]
    // A header sent twice is ambiguous: refuse it rather than pick one.
    return typeof value === "string" ? value : value === undefined ? undefined : value.length === 1 ? value[0] : ""
  }
  return undefined
}

const fail = (reason: Reason) => Effect.fail(new TinkWebhookError({ reason }))

const HEX64 = /^[0-9a-f]{64}$/
const SECONDS = /^\d{1,12}$/

/** Parses `t=...,v1=...[,v1=...][,other=...]`; unknown keys are ignored, as Tink's docs say. */
const parseHeader = (value: string): { readonly t: string; readonly v1: ReadonlyArray<string> } | undefined => {
  let t: string | undefined
  const v1: Array<string> = []
  for (const element of value.split(",")) {
    const at = element.indexOf("=")
    if (at <= 0) return undefined
    const key = element.slice(0, at).trim()
    const item = element.slice(at + 1).trim()
    if (key === "t") {
      if (t !== undefined || !SECONDS.test(item)) return undefined
      t = item
    } else if (key === "v1") {
      v1.push(item.toLowerCase())
    }
  }
  return t === undefined || v1.length === 0 ? undefined : { t, v1 }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })
const defaultMaxBodyBytes = 1024 * 1024

/**
 * The signature Tink puts on `body` at `timestamp` (unix seconds): `t=<timestamp>,v1=<hex>`. For
 * tests and for senders (the sandbox signs with the same scheme).
 *
 * @since 0.2.0
 * @category signing
 */
export const sign = (secret: Redacted.Redacted<string>, timestamp: number, body: string | Uint8Array): string => {
  const t = String(Math.trunc(timestamp))
  return `t=${t},v1=${hmacSha256Hex(Redacted.value(secret), signedMessage(t, body))}`
}

const signedMessage = (t: string, body: string | Uint8Array): Uint8Array => {
  const bytes = typeof body === "string" ? encoder.encode(body) : body
  const prefix = encoder.encode(`${t}.`)
  const message = new Uint8Array(prefix.length + bytes.length)
  message.set(prefix)
  message.set(bytes, prefix.length)
  return message
}

const decodeEnvelope = Schema.decodeUnknownOption(Envelope)
const decodeRefreshFinished = Schema.decodeUnknownOption(RefreshFinishedContent)
const decodeMillis = Schema.decodeUnknownOption(Millis)
const decodeWebhookUser = Schema.decodeUnknownOption(Schema.Struct({ userId: Schema.String }))

const toEvent = (json: unknown): Option.Option<Event> =>
  Option.map(decodeEnvelope(json), (envelope): Event => {
    // `context.userId` is the documented place; `webhook.userId` only when there is no context user.
    const userId = envelope.context?.userId ??
      Option.getOrUndefined(Option.map(decodeWebhookUser(envelope.webhook), (webhook) => webhook.userId))
    if (envelope.event === "refresh:finished" && userId !== undefined) {
      const content = decodeRefreshFinished(envelope.content)
      const credentialsStatus = Option.isSome(content)
        ? content.value.credentialsStatus ?? content.value.status ?? undefined
        : undefined
      if (Option.isSome(content) && credentialsStatus !== undefined) {
        return {
          _tag: "RefreshFinished",
          userId,
          externalUserId: envelope.context?.externalUserId ?? content.value.externalUserId ?? undefined,
          credentialsId: content.value.credentialsId,
          credentialsStatus,
          finished: Option.getOrUndefined(Option.filter(decodeMillis(content.value.finished), Number.isFinite))
        }
      }
    }
    return { _tag: "UnknownEvent", event: envelope.event, userId, content: envelope.content }
  })

/**
 * Verifies one delivery and decodes its event: the plain function for frameworks other than
 * `@effect/platform` (pass the headers and the raw body, before any JSON parsing). Time comes
 * from Effect's `Clock`, so `TestClock` drives the tolerance in tests.
 *
 * @since 0.2.0
 * @category verification
 */
export const verify = (options: VerifyOptions) => {
  const toleranceMillis = Duration.toMillis(Duration.decode(options.tolerance ?? Duration.minutes(5)))
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes
  return (headers: HeadersInput, rawBody: string | Uint8Array): Effect.Effect<Delivery, TinkWebhookError> =>
    Effect.gen(function*() {
      const header = headerOf(headers, signatureHeader)
      if (header === undefined) return yield* fail("MissingSignature")
      const parsed = parseHeader(header)
      if (parsed === undefined) return yield* fail("MalformedSignature")
      const bytes = typeof rawBody === "string" ? encoder.encode(rawBody) : rawBody
      if (bytes.length > maxBodyBytes) return yield* fail("BodyTooLarge")
      const expected = hmacSha256Hex(Redacted.value(options.secret), signedMessage(parsed.t, bytes))
      // Every candidate is compared in full: how many there are, not which one matched, shows in the time.
      let matched = false
      for (const candidate of parsed.v1) {
        matched = constantTimeEqual(expected, HEX64.test(candidate) ? candidate : "") || matched
      }
      if (!matched) return yield* fail("InvalidSignature")
      // The age is checked after the signature: `StaleTimestamp` then means a genuine but old (or
      // clock-skewed) delivery, which is worth telling apart in an operator's logs.
      const now = yield* Clock.currentTimeMillis
      const timestamp = Number(parsed.t)
      if (Math.abs(now - timestamp * 1000) > toleranceMillis) return yield* fail("StaleTimestamp")
      let json: unknown
      try {
        json = JSON.parse(decoder.decode(bytes))
      } catch {
        return yield* fail("MalformedBody")
      }
      const event = toEvent(json)
      if (Option.isNone(event)) return yield* fail("MalformedBody")
      const id = typeof (json as { id?: unknown }).id === "string"
        ? `id:${(json as { id: string }).id}`
        : `sha256:${sha256Hex(decoder.decode(bytes))}`
      return { id, timestamp, event: event.value }
    })
}

/**
 * What a handled delivery did: `invalidated` lists the cache scopes it invalidated (none for an
 * unknown event or a repeat); `duplicate` says the delivery id was seen before.
 *
 * @since 0.2.0
 * @category models
 */
export interface Outcome {
  readonly delivery: Delivery
  readonly duplicate: boolean
  readonly invalidated: ReadonlyArray<string>
}

/**
 * A webhook receiver: `handle` verifies, decodes and invalidates; `httpApp` does the same for an
 * `@effect/platform` server.
 *
 * @since 0.2.0
 * @category models
 */
export interface TinkWebhooks {
  readonly verify: (headers: HeadersInput, rawBody: string | Uint8Array) => Effect.Effect<Delivery, TinkWebhookError>
  readonly handle: (headers: HeadersInput, rawBody: string | Uint8Array) => Effect.Effect<Outcome, TinkWebhookError>
  /**
   * Answers 204 to a delivery it accepts (a repeat included, so Tink stops resending), 401 to one
   * whose signature or timestamp is wrong, 400 to a bad body; the body of an error names the
   * reason only. Mount it with `HttpRouter.post("/webhooks/tink", webhooks.httpApp)`.
   */
  readonly httpApp: Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>
}

/** Which scopes an event invalidates: its user's, and the one reads without a user id depend on. */
const scopesOf = (event: Event): ReadonlyArray<string> =>
  event._tag === "RefreshFinished"
    // The same pair a mutation invalidates (internal/pipeline.ts): a session without a user id
    // may hold this user's credentials too.
    ? [TinkUser.scopeOfUser(event.userId), TinkUser.unnamedSessionsScope]
    : []

/**
 * Builds a receiver over the `ResponseCache` in context. Invalidation goes through the cache's
 * store, so with a shared store (Redis) every instance's next read is fresh. Repeats are dropped
 * by a bounded memory of delivery ids in this process: Tink retries failed deliveries (the
 * signature page's "retries on failed message deliveries"), and a
 * shared store's invalidation is idempotent anyway, so what the memory saves is the second
 * round trip and the second generation bump (which would also drop entries re-read in between).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<TinkWebhooks, never, ResponseCache.ResponseCache> =>
  Effect.map(ResponseCache.ResponseCache, (cache) => {
    const check = verify(options)
    const capacity = Math.max(1, options.dedupeCapacity ?? 10_000)
    const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes
    const seen = new Set<string>()
    const remember = (id: string): boolean => {
      if (seen.has(id)) return false
      seen.add(id)
      if (seen.size > capacity) seen.delete(seen.values().next().value!)
      return true
    }

    const handle: TinkWebhooks["handle"] = (headers, rawBody) =>
      Effect.flatMap(check(headers, rawBody), (delivery): Effect.Effect<Outcome> => {
        if (!remember(delivery.id)) return Effect.succeed({ delivery, duplicate: true, invalidated: [] })
        const scopes = scopesOf(delivery.event)
        return Effect.as(
          // If invalidating is interrupted, forget the id so Tink's resend is not dropped.
          Effect.onInterrupt(
            Effect.forEach(scopes, (scope) => cache.invalidate(scope), { discard: true }),
            () => Effect.sync(() => seen.delete(delivery.id))
          ),
          { delivery, duplicate: false, invalidated: scopes }
        )
      })

    const readBody = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<Uint8Array, TinkWebhookError> => {
      const declared = Number(request.headers["content-length"] ?? "0")
      if (declared > maxBodyBytes) return fail("BodyTooLarge")
      return request.stream.pipe(
        Stream.mapError(() => new TinkWebhookError({ reason: "MalformedBody" })),
        Stream.runFoldEffect({ parts: Chunk.empty<Uint8Array>(), size: 0 }, (acc, part) => {
          const size = acc.size + part.length
          // Stops reading at the limit: an oversized body is never held whole.
          return size > maxBodyBytes
            ? fail("BodyTooLarge")
            : Effect.succeed({ parts: Chunk.append(acc.parts, part), size })
        }),
        Effect.map(({ parts, size }) => {
          const out = new Uint8Array(size)
          let offset = 0
          for (const part of parts) {
            out.set(part, offset)
            offset += part.length
          }
          return out
        })
      )
    }

    const httpApp: TinkWebhooks["httpApp"] = Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request) =>
        readBody(request).pipe(
          Effect.flatMap((body) => handle(request.headers, body)),
          Effect.as(HttpServerResponse.empty({ status: 204 })),
          Effect.catchTag("TinkWebhookError", (error) =>
            Effect.succeed(HttpServerResponse.unsafeJson(
              { error: error.reason },
              { status: error.reason === "BodyTooLarge" || error.reason === "MalformedBody" ? 400 : 401 }
            )))
        )
    )

    return { verify: check, handle, httpApp }
  })
