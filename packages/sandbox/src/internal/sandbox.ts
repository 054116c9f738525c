import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { Credential, CredentialInput, SandboxOptions, Service } from "../Sandbox.js"
import * as App from "./app.js"
import type { Config } from "./context.js"
import { defaultSupplementalInformation, settle, toJson } from "./credentialStatus.js"
import { FaultRules } from "./faultRules.js"
import * as Ids from "./ids.js"
import { Recorder } from "./recorder.js"
import { Store } from "./store.js"
import { defaultLocale } from "./users.js"

/** @internal */
export const allScopes: ReadonlyArray<string> = [
  // The scopes this sandbox's endpoints check.
  "user:create",
  "user:delete",
  "user:read",
  "authorization:grant",
  "credentials:read",
  "credentials:write",
  "credentials:refresh",
  // Other scopes of Tink's API reference (Introduction, "Authorization scopes") and guides, so a
  // grant may ask for them as it may at Tink; the sandbox serves none of their endpoints.
  "accounts:read",
  "accounts:write",
  "authorization:read",
  "authorization:revoke",
  "balance-refresh",
  "balance-refresh:readonly",
  "calendar:read",
  "consents",
  "consents:readonly",
  "identity:read",
  "link-session:write",
  "payment:read",
  "provider-consents:read",
  "provider-consents:write",
  "providers:read",
  "transactions:read",
  "transactions:write",
  "user:write"
]

const resolve = (options: SandboxOptions | undefined): Config => ({
  clients: options?.clients ?? [{ clientId: "sandbox-client", clientSecret: "sandbox-secret", scopes: allScopes }],
  clientTokenTtlSeconds: options?.clientTokenTtlSeconds ?? 1800,
  userTokenTtlSeconds: options?.userTokenTtlSeconds ?? 7200,
  refreshStepMillis: options?.refreshStepMillis ?? 1000,
  maxRecordedRequests: options?.maxRecordedRequests ?? 10_000,
  legacyRequestId: options?.legacyRequestId ?? false
})

/** @internal */
export const make = (options?: SandboxOptions): Effect.Effect<Service> =>
  Effect.sync(() => {
    const config = resolve(options)
    const store = new Store()
    const recorder = new Recorder(config.maxRecordedRequests)
    const faults = new FaultRules()
    const app = App.make({ store, config, recorder, faults })

    // Seeding helpers die on misuse: a test that seeds for a missing user is a broken test.
    const requireUser = (userId: string, what: string): Effect.Effect<void> =>
      Effect.suspend(() =>
        store.user(userId) === undefined
          ? Effect.dieMessage(`Sandbox.${what}: no user ${userId}`)
          : Effect.void
      )

    const createUser: Service["createUser"] = (input) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const externalUserId = input.externalUserId ?? null
        if (externalUserId !== null && store.userByExternalId(externalUserId) !== undefined) {
          return Effect.dieMessage(`Sandbox.createUser: external id ${externalUserId} is taken`)
        }
        const market = input.market ?? "SE"
        const user = store.addUser({
          externalUserId,
          market,
          locale: defaultLocale(market),
          retentionClass: "permanent",
          created: now
        })
        return Effect.succeed({ userId: user.userId })
      })

    const addCredential = (userId: string, input?: CredentialInput): Effect.Effect<Credential> =>
      Effect.zipRight(
        requireUser(userId, "addCredential"),
        Effect.map(Clock.currentTimeMillis, (now) => {
          const status = input?.status ?? "UPDATED"
          const id = Ids.resourceId()
          const record = {
            id,
            userId,
            providerName: input?.providerName ?? "se-demobank-password",
            type: input?.type ?? "PASSWORD",
            fields: input?.fields ?? {},
            sessionExpiryDate: null,
            status,
            statusPayload: input?.statusPayload ?? null,
            statusUpdated: now,
            updated: status === "UPDATED" ? now : null,
            supplementalInformation: input?.supplementalInformation === undefined
              ? defaultSupplementalInformation(status, id)
              : input.supplementalInformation,
            refreshStartedAt: null
          }
          store.putCredential(record)
          return toJson(record)
        })
      )

    const setCredentialStatus: Service["setCredentialStatus"] = (userId, credentialId, input) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const record = store.credential(credentialId, userId)
        if (record === undefined) {
          return Effect.dieMessage(`Sandbox.setCredentialStatus: no credential ${credentialId} of user ${userId}`)
        }
        const status = input.status
        const next = {
          ...settle(record, now, config.refreshStepMillis),
          status,
          statusPayload: input.statusPayload ?? null,
          statusUpdated: now,
          supplementalInformation: input.supplementalInformation === undefined
            ? defaultSupplementalInformation(status, credentialId)
            : input.supplementalInformation,
          refreshStartedAt: null
        }
        const stored = status === "UPDATED" ? { ...next, updated: now } : next
        store.putCredential(stored)
        return Effect.succeed(toJson(stored))
      })

    const issueUserToken: Service["issueUserToken"] = (userId, scopes) =>
      Effect.zipRight(
        requireUser(userId, "issueUserToken"),
        Effect.map(Clock.currentTimeMillis, (now) =>
          store.issueToken({
            kind: "user",
            clientId: config.clients[0]?.clientId ?? "sandbox-client",
            userId,
            scopes: [...scopes],
            expiresAt: now + config.userTokenTtlSeconds * 1000
          }))
      )

    const service: Service = {
      app,
      setFaults: (rules) => Effect.sync(() => faults.set(rules)),
      clearFaults: Effect.sync(() => faults.clear()),
      requestCount: (method, path) => Effect.sync(() => recorder.count(method, path)),
      totalRequests: Effect.sync(() => recorder.totalRequests()),
      requests: Effect.sync(() => recorder.requests()),
      resetCounters: Effect.sync(() => recorder.reset()),
      usersCreated: Effect.sync(() => recorder.usersCreated()),
      faultsInjected: Effect.sync(() => recorder.faultsInjected()),
      credentials: (userId) =>
        Effect.map(Clock.currentTimeMillis, (now) =>
          store.credentialsOf(userId).map((record) => toJson(settle(record, now, config.refreshStepMillis)))),
      createUser,
      addCredential,
      setCredentialStatus,
      issueUserToken,
      userExists: (userId) =>
        Effect.sync(() => store.user(userId) !== undefined)
    }
    return service
  })
