import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { requireToken, requireUser } from "./auth.js"
import type { Handler } from "./context.js"
import { badRequest, fail } from "./failure.js"
import { jsonObject } from "./incoming.js"

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

const optionalString = (body: Record<string, unknown>, key: string): string | null | false => {
  const value = body[key]
  if (value === undefined || value === null) return null
  return typeof value === "string" && value !== "" ? value : false
}

/** @internal POST /api/v1/user/create: JSON in snake_case, client token with user:create. */
export const create: Handler = (ctx) =>
  Effect.gen(function*() {
    yield* requireToken(ctx, "client", "user:create")
    const body = yield* jsonObject(ctx.incoming, { optional: false })
    const market = body.market
    if (typeof market !== "string" || !/^[A-Z]{2}$/.test(market)) {
      return yield* badRequest("INVALID_MARKET", "market is required: an ISO 3166-1 alpha-2 code such as SE")
    }
    const locale = optionalString(body, "locale")
    if (locale === false || (locale !== null && !/^[a-z]{2}_[A-Z]{2}$/.test(locale))) {
      return yield* badRequest("INVALID_LOCALE", "locale must look like en_US")
    }
    const externalUserId = optionalString(body, "external_user_id")
    if (externalUserId === false) {
      return yield* badRequest("BAD_REQUEST", "external_user_id must be a non-empty string")
    }
    const retentionClass = optionalString(body, "retention_class")
    if (retentionClass !== null && retentionClass !== "permanent" && retentionClass !== "temporary") {
      return yield* badRequest("INVALID_RETENTION_CLASS", "retention_class must be permanent or temporary")
    }
    if (externalUserId !== null && ctx.store.userByExternalId(externalUserId) !== undefined) {
      return yield* fail(409, "USER_ALREADY_EXISTS", "A user with this external_user_id already exists")
    }
    const user = ctx.store.addUser({
      externalUserId,
      market,
      locale: locale ?? defaultLocale(market),
      retentionClass: retentionClass ?? "permanent",
      created: ctx.now
    })
    return HttpServerResponse.unsafeJson({ user_id: user.userId, external_user_id: user.externalUserId })
  })

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
