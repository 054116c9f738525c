import type { CredentialRecord } from "./credentialStatus.js"
import * as Ids from "./ids.js"

/**
 * The sandbox's data: users, tokens, authorization codes and credentials, in plain maps. Every
 * method is synchronous, so a check and the write that depends on it (a code used once, a refresh
 * already running) can never interleave with another request.
 */

/** @internal */
export interface UserRecord {
  readonly userId: string
  readonly externalUserId: string | null
  readonly market: string
  readonly locale: string
  readonly retentionClass: string
  readonly created: number
}

/** @internal */
export interface TokenRecord {
  readonly kind: "client" | "user"
  readonly clientId: string
  readonly userId: string | null
  readonly scopes: ReadonlyArray<string>
  readonly expiresAt: number
}

/** @internal */
export interface GrantRecord {
  readonly clientId: string
  readonly userId: string
  readonly scopes: ReadonlyArray<string>
  readonly idHint: string | null
  readonly expiresAt: number
}

/** @internal */
export class Store {
  private readonly users = new Map<string, UserRecord>()
  private readonly byExternalId = new Map<string, string>()
  private readonly tokens = new Map<string, TokenRecord>()
  private readonly tokensOfUser = new Map<string, Set<string>>()
  private readonly grants = new Map<string, GrantRecord>()
  private readonly credentials = new Map<string, CredentialRecord>()

  addUser(input: Omit<UserRecord, "userId">): UserRecord {
    const user: UserRecord = { userId: Ids.resourceId(), ...input }
    this.users.set(user.userId, user)
    if (user.externalUserId !== null) this.byExternalId.set(user.externalUserId, user.userId)
    return user
  }

  user(userId: string): UserRecord | undefined {
    return this.users.get(userId)
  }

  userByExternalId(externalUserId: string): UserRecord | undefined {
    const userId = this.byExternalId.get(externalUserId)
    return userId === undefined ? undefined : this.users.get(userId)
  }

  /** Removes the user with everything hanging off it, so its tokens answer 401 from now on. */
  deleteUser(userId: string): void {
    const user = this.users.get(userId)
    if (user === undefined) return
    this.users.delete(userId)
    if (user.externalUserId !== null) this.byExternalId.delete(user.externalUserId)
    for (const token of this.tokensOfUser.get(userId) ?? []) this.tokens.delete(token)
    this.tokensOfUser.delete(userId)
    for (const [code, grant] of this.grants) {
      if (grant.userId === userId) this.grants.delete(code)
    }
    for (const [id, credential] of this.credentials) {
      if (credential.userId === userId) this.credentials.delete(id)
    }
  }

  issueToken(record: TokenRecord): string {
    const token = Ids.token()
    this.tokens.set(token, record)
    if (record.userId !== null) {
      const owned = this.tokensOfUser.get(record.userId) ?? new Set<string>()
      owned.add(token)
      this.tokensOfUser.set(record.userId, owned)
    }
    return token
  }

  /** A live token, or undefined; expired tokens are dropped on sight so the map does not grow forever. */
  token(token: string, now: number): TokenRecord | undefined {
    const record = this.tokens.get(token)
    if (record === undefined) return undefined
    if (now < record.expiresAt) return record
    this.tokens.delete(token)
    if (record.userId !== null) this.tokensOfUser.get(record.userId)?.delete(token)
    return undefined
  }

  addGrant(record: GrantRecord): string {
    const code = Ids.code()
    this.grants.set(code, record)
    return code
  }

  /** Codes are single use: taking one removes it whether or not it is still valid. */
  takeGrant(code: string): GrantRecord | undefined {
    const grant = this.grants.get(code)
    this.grants.delete(code)
    return grant
  }

  putCredential(record: CredentialRecord): void {
    this.credentials.set(record.id, record)
  }

  /** The credential if it exists AND belongs to the user: another user's id looks unknown. */
  credential(id: string, userId: string): CredentialRecord | undefined {
    const record = this.credentials.get(id)
    return record !== undefined && record.userId === userId ? record : undefined
  }

  credentialsOf(userId: string): Array<CredentialRecord> {
    const out: Array<CredentialRecord> = []
    for (const record of this.credentials.values()) {
      if (record.userId === userId) out.push(record)
    }
    return out
  }

  deleteCredential(id: string): void {
    this.credentials.delete(id)
  }
}
