import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { requireUser } from "./auth.js"
import type { Ctx, Handler } from "./context.js"
import { isRefreshing, settle, toJson } from "./credentialStatus.js"
import type { CredentialRecord } from "./credentialStatus.js"
import { type ApiFailure, badRequest, fail, notFound } from "./failure.js"
import { jsonObject } from "./incoming.js"

/** Another user's credential answers exactly like an unknown one, so ids leak nothing. */
const owned = (ctx: Ctx, userId: string): Effect.Effect<CredentialRecord, ApiFailure> => {
  const record = ctx.store.credential(ctx.id, userId)
  return record === undefined
    ? Effect.fail(notFound("Credentials not found"))
    : Effect.succeed(settle(record, ctx.now, ctx.config.refreshStepMillis))
}

/** @internal GET /api/v1/credentials/list */
export const list: Handler = (ctx) =>
  Effect.map(requireUser(ctx, "credentials:read"), (token) =>
    HttpServerResponse.unsafeJson({
      credentials: ctx.store.credentialsOf(token.userId).map((record) =>
        toJson(settle(record, ctx.now, ctx.config.refreshStepMillis))
      )
    }))

/** @internal GET /api/v1/credentials/{id} */
export const get: Handler = (ctx) =>
  Effect.gen(function*() {
    const token = yield* requireUser(ctx, "credentials:read")
    const record = yield* owned(ctx, token.userId)
    return HttpServerResponse.unsafeJson(toJson(record))
  })

/** @internal DELETE /api/v1/credentials/{id} */
export const remove: Handler = (ctx) =>
  Effect.gen(function*() {
    const token = yield* requireUser(ctx, "credentials:write")
    const record = yield* owned(ctx, token.userId)
    ctx.store.deleteCredential(record.id)
    return HttpServerResponse.empty({ status: 204 })
  })

const booleanParams = ["optIn", "authenticate"] as const

/** The `items` values of the API reference (Connectivity v1, "Refresh credentials"), deprecated ones included. */
const refreshableItems: ReadonlySet<string> = new Set([
  "CHECKING_ACCOUNTS",
  "CHECKING_TRANSACTIONS",
  "SAVING_ACCOUNTS",
  "SAVING_TRANSACTIONS",
  "CREDITCARD_ACCOUNTS",
  "CREDITCARD_TRANSACTIONS",
  "LOAN_ACCOUNTS",
  "LOAN_TRANSACTIONS",
  "INVESTMENT_ACCOUNTS",
  "INVESTMENT_TRANSACTIONS",
  "EINVOICES",
  "TRANSFER_DESTINATIONS",
  "IDENTITY_DATA",
  "LIST_BENEFICIARIES"
])

/**
 * @internal
 * POST /api/v1/credentials/{id}/refresh: starts AUTHENTICATING -> UPDATING -> UPDATED. Only one
 * refresh per credential at a time, as Tink: a second one while it runs is a 409.
 */
export const refresh: Handler = (ctx) =>
  Effect.gen(function*() {
    const token = yield* requireUser(ctx, "credentials:refresh")
    const search = ctx.incoming.search
    for (const item of search.getAll("items")) {
      if (!refreshableItems.has(item)) return yield* badRequest("BAD_REQUEST", `Unknown refreshable item: ${item}`)
    }
    for (const name of booleanParams) {
      const value = search.get(name)
      if (value !== null && value !== "true" && value !== "false") {
        return yield* badRequest("BAD_REQUEST", `${name} must be true or false`)
      }
    }
    yield* jsonObject(ctx.incoming, { optional: true })
    const record = yield* owned(ctx, token.userId)
    if (isRefreshing(record)) {
      return yield* fail(409, "REFRESH_IN_PROGRESS", "A refresh of this credential is already in progress")
    }
    ctx.store.putCredential({ ...record, refreshStartedAt: ctx.now })
    return HttpServerResponse.empty({ status: 204 })
  })
