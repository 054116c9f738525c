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
  if (elapsed < stepMillis) {
    return { ...record, status: "AUTHENTICATING", statusPayload: payloads.AUTHENTICATING, statusUpdated: started }
  }
  if (elapsed < 2 * stepMillis) {
    const at = started + stepMillis
    return { ...record, status: "UPDATING", statusPayload: payloads.UPDATING, statusUpdated: at }
  }
  const at = started + 2 * stepMillis
  return {
    ...record,
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

/** @internal Tink's camelCase JSON for a (settled) credential. */
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
  sessionExpiryDate: record.sessionExpiryDate
})
