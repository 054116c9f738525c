import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { requireToken, requireUser } from "./auth.js"
import type { Handler } from "./context.js"
import { type ApiFailure, badRequest, fail } from "./failure.js"
import { jsonObject } from "./incoming.js"

const badRequestOf = (message: string): ApiFailure => badRequest("BAD_REQUEST", message)

const marketLocales: Record<string, string> = {
  AT: "de_AT",
  BE: "nl_BE",
  DE: "de_DE",
  DK: "da_DK",
  ES: "es_ES",
  FI: "fi_FI",
  FR: "fr_FR",
  GB: "en_GB",
  IT: "it_IT",
  NL: "nl_NL",
  NO: "no_NO",
  PL: "pl_PL",
  PT: "pt_PT",
  SE: "sv_SE",
  US: "en_US"
}

/** @internal Tink fills the locale from the market when it is omitted. */
export const defaultLocale = (market: string): string => marketLocales[market] ?? "en_US"

/**
 * @internal
 * POST /api/v1/user/create: JSON in snake_case, client token with user:create. It checks only what
 * Tink documents (API reference, General v1, "Create user"): `market` is required and is an ISO
 * 3166-1 (alpha-2) country code, `retention_class` is "permanent" or "temporary", an external id
 * already taken is a 409. Tink answers 400 for an invalid locale without saying which are valid,
 * so any string is taken as a locale: the sandbox must never be stricter than Tink.
 */
export const create: Handler = (ctx) =>
  Effect.gen(function*() {
    yield* requireToken(ctx, "client", "user:create")
    const body = yield* jsonObject(ctx.incoming, { optional: false })
    const market = body.market
    if (typeof market !== "string" || !/^[A-Za-z]{2}$/.test(market)) {
      return yield* badRequest("BAD_REQUEST", "market is required: an ISO 3166-1 country code such as SE")
    }
    const locale = yield* optionalString(body, "locale")
    const externalUserId = yield* optionalString(body, "external_user_id")
    const retentionClass = yield* optionalString(body, "retention_class")
    if (retentionClass !== null && retentionClass !== "permanent" && retentionClass !== "temporary") {
      return yield* badRequest("BAD_REQUEST", "retention_class must be permanent or temporary")
    }
    if (externalUserId !== null && ctx.store.userByExternalId(externalUserId) !== undefined) {
      return yield* fail(409, "USER_ALREADY_EXISTS", "A user with this external_user_id already exists")
    }
    const normalized = market.toUpperCase()
    const user = ctx.store.addUser({
      externalUserId,
      market: normalized,
      locale: locale ?? defaultLocale(normalized),
      retentionClass: retentionClass ?? "permanent",
      created: ctx.now
    })
    // Tink's permanent-users guide shows `{"user_id": ...}` alone when no external id was given.
    return HttpServerResponse.unsafeJson(
      user.externalUserId === null
        ? { user_id: user.userId }
        : { user_id: user.userId, external_user_id: user.externalUserId }
    )
  })

/** A documented string field: absent, null and "" read as not given; another JSON type is a 400. */
const optionalString = (body: Record<string, unknown>, key: string): Effect.Effect<string | null, ApiFailure> => {
  const value = body[key]
  if (value === undefined || value === null || value === "") return Effect.succeed(null)
  return typeof value === "string"
    ? Effect.succeed(value)
    : Effect.fail(badRequestOf(`${key} must be a string`))
}

/**
 * @internal
 * POST /api/v1/user/delete: deletes the user of the token (any body is ignored, as Tink does), its
 * credentials, codes and every token it holds.
 */
export const remove: Handler = (ctx) =>
  Effect.map(requireUser(ctx, "user:delete"), (token) => {
    ctx.store.deleteUser(token.userId)
    return HttpServerResponse.empty({ status: 204 })
  })
