import type { Credential } from "../Sandbox.js"

/**
 * @internal
 * A stored credential. A refresh only records when it started: the status is computed from the
 * Clock when read, so time moves it (TestClock included) without any background fiber.
 */
export interface CredentialRecord {
  readonly id: string
  readonly userId: string
  readonly providerName: string
  readonly type: string
  readonly fields: Readonly<Record<string, string>>
  readonly sessionExpiryDate: number | null
  readonly status: string
  readonly statusPayload: string | null
  readonly statusUpdated: number | null
  readonly updated: number | null
  /** Tink's JSON string for the AWAITING_* statuses, null otherwise. */
  readonly supplementalInformation: string | null
  /** Start of the refresh in progress (or finished but not yet folded in), in epoch ms. */
  readonly refreshStartedAt: number | null
}

const payloads: Record<string, string> = {
  AUTHENTICATING: "Authenticating with the provider",
  UPDATING: "Fetching accounts and transactions",
  UPDATED: "Data is up to date"
}

/**
 * @internal
 * Folds the refresh into the stored fields as of `now`: AUTHENTICATING for one step, UPDATING for
 * the next, then UPDATED (which also sets `updated`), after which the refresh is over.
 */
export const settle = (record: CredentialRecord, now: number, stepMillis: number): CredentialRecord => {
  const started = record.refreshStartedAt
  if (started === null) return record
  const elapsed = now - started
  // A refresh leaves any AWAITING_* state, so the supplemental information goes with it.
  if (elapsed < stepMillis) {
    return {
      ...record,
      status: "AUTHENTICATING",
      statusPayload: payloads.AUTHENTICATING,
      statusUpdated: started,
      supplementalInformation: null
    }
  }
  if (elapsed < 2 * stepMillis) {
    const at = started + stepMillis
    return {
      ...record,
      status: "UPDATING",
      statusPayload: payloads.UPDATING,
      statusUpdated: at,
      supplementalInformation: null
    }
  }
  const at = started + 2 * stepMillis
  return {
    ...record,
    supplementalInformation: null,
    status: "UPDATED",
    statusPayload: payloads.UPDATED,
    statusUpdated: at,
    updated: at,
    refreshStartedAt: null
  }
}

/** @internal Tink rejects a second on-demand refresh while one is running. */
export const isRefreshing = (settled: CredentialRecord): boolean =>
  settled.status === "AUTHENTICATING" || settled.status === "UPDATING"

/**
 * @internal
 * Tink's camelCase JSON for a (settled) credential: every key of the API reference's example
 * (Connectivity v1, "Get credentials"), `supplementalInformation` included, null when empty.
 */
export const toJson = (record: CredentialRecord): Credential => ({
  id: record.id,
  providerName: record.providerName,
  type: record.type,
  status: record.status,
  statusPayload: record.statusPayload,
  statusUpdated: record.statusUpdated,
  updated: record.updated,
  fields: record.fields,
  userId: record.userId,
  sessionExpiryDate: record.sessionExpiryDate,
  supplementalInformation: record.supplementalInformation
})

/**
 * @internal
 * What Tink puts in `supplementalInformation` for a status when a test seeds none: the fields to
 * ask for (the shape of the credentials guide's "How to handle AWAITING_SUPPLEMENTAL_INFORMATION")
 * or a ThirdPartyAppAuthenticationPayload with deep links (its table of keys), as a JSON string.
 */
export const defaultSupplementalInformation = (status: string, credentialId: string): string | null => {
  if (status === "AWAITING_SUPPLEMENTAL_INFORMATION") {
    return JSON.stringify([{
      description: "SMS code",
      exposed: true,
      hint: "NNNNNN",
      maxLength: 6,
      minLength: 6,
      name: "otpValue",
      numeric: true,
      optional: false,
      pattern: "([0-9]{6})",
      patternError: "The code you entered is not valid"
    }])
  }
  if (status === "AWAITING_THIRD_PARTY_APP_AUTHENTICATION") {
    const link = `https://sandbox.invalid/third-party-app/${credentialId}`
    return JSON.stringify({
      android: { packageName: null, requiredMinimumVersion: 0, intent: link },
      ios: { appStoreUrl: null, scheme: "https", deepLinkUrl: link },
      desktop: { url: link },
      downloadTitle: "Download the sandbox bank app",
      downloadMessage: null,
      upgradeTitle: "Update the sandbox bank app",
      upgradeMessage: null
    })
  }
  return null
}
