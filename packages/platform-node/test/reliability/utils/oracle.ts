/**
 * The reference model of the cache contract, used by the model-based property test and the soak.
 *
 * It never predicts what a read returns (overlapping reads and mutations may see either state);
 * it only knows what a read must NOT return:
 * - another user's data (C8): every credential belongs to the session's user;
 * - data older than a mutation that returned before the read started (C5): each mutation that
 *   succeeded leaves a mark that every later read must show. The marks are monotone, so a
 *   correct implementation can never fail them:
 *   - a deleted credential is absent from lists, and getting it is not a success;
 *   - a refreshed credential has `statusUpdated` at or after the refresh began (Tink stamps the
 *     start of a refresh, and later steps only move it forward);
 *   - a deleted user's session reads nothing.
 *
 * It also knows when a read must be a cache hit: after a successful read of the same user and
 * key has returned, with no mutation of that user in flight since that read started (C5, C7:
 * the earlier read stored its answer in the shared store before returning).
 */

/** The part of a credential the oracle looks at. */
export interface Observed {
  readonly id: string
  readonly userId?: string | undefined
  readonly statusUpdated?: number | null | undefined
}

export type ReadKey = { readonly _tag: "list" } | { readonly _tag: "get"; readonly credentialId: string }

const keyText = (key: ReadKey): string => key._tag === "list" ? "list" : `get ${key.credentialId}`

interface UserState {
  readonly userId: string
  readonly credentialIds: Set<string>
  /** Marks of mutations that returned successfully. */
  readonly deleted: Set<string>
  /** Per credential: the latest lower bound for `statusUpdated` set by a returned refresh. */
  readonly refreshedAt: Map<string, number>
  userDeleted: boolean
  /** Refreshes in flight per credential: their start times. */
  readonly refreshing: Map<string, Array<number>>
  mutationsInFlight: number
  /** Sequence number of the last mutation start (for hit expectations). */
  lastMutationStart: number
  mutationsStarted: number
  /** Mutations that returned and moved the user's generation (success or ambiguous failure). */
  invalidatingReturned: number
  /** Per key: start sequence of the latest successful read that began with no mutation in flight. */
  readonly cleanSuccess: Map<string, number>
  /** Sequence numbers of every mutation start, ascending. */
  readonly mutationStarts: Array<number>
}

export interface ReadTicket {
  readonly user: number
  readonly key: ReadKey
  readonly startSeq: number
  readonly deleted: ReadonlySet<string>
  readonly refreshedAt: ReadonlyMap<string, number>
  readonly userDeleted: boolean
  readonly clean: boolean
  /** A clean successful read of the same key that ended before this one started. */
  readonly candidate: number | undefined
  readonly generationLow: number
}

export interface MutationTicket {
  readonly user: number
  readonly op: "delete" | "refresh" | "deleteUser"
  readonly credentialId: string | undefined
  /** For a refresh: the lower bound its mark sets (the earliest refresh of it in flight). */
  readonly since: number
  readonly startTime: number
}

export type Outcome = "success" | "rejected" | "ambiguous"

export interface Verdict {
  /** Set when the read returned data older than a mutation that had returned before it started. */
  readonly stale?: string | undefined
  /** Set when the read returned data of another user. */
  readonly crossUser?: string | undefined
  /** True when the contract says the read had to be served from the cache. */
  readonly expectHit: boolean
  /** The generations (per user, counted from 0) the read may have used. */
  readonly generations: readonly [number, number]
  readonly endSeq: number
}

export class Oracle {
  private seq = 0
  private readonly users: Array<UserState>

  constructor(users: ReadonlyArray<{ readonly userId: string; readonly credentialIds: Iterable<string> }>) {
    this.users = []
    for (const user of users) this.addUser(user.userId, user.credentialIds)
  }

  get userCount(): number {
    return this.users.length
  }

  userId(user: number): string {
    return this.users[user]!.userId
  }

  /** A user added after the start (the soak replaces deleted users); returns its index. */
  addUser(userId: string, credentialIds: Iterable<string>): number {
    this.users.push({
      userId,
      credentialIds: new Set(credentialIds),
      deleted: new Set(),
      refreshedAt: new Map(),
      userDeleted: false,
      refreshing: new Map(),
      mutationsInFlight: 0,
      lastMutationStart: -1,
      mutationsStarted: 0,
      invalidatingReturned: 0,
      cleanSuccess: new Map(),
      mutationStarts: []
    })
    return this.users.length - 1
  }

  /** A credential seeded for the user after the start (the soak replaces deleted ones). */
  addCredential(user: number, credentialId: string): void {
    this.users[user]!.credentialIds.add(credentialId)
  }

  isDeleted(user: number, credentialId: string): boolean {
    return this.users[user]!.deleted.has(credentialId)
  }

  isUserDeleted(user: number): boolean {
    return this.users[user]!.userDeleted
  }

  /** Whether a mutation of the user started strictly between two sequence numbers. */
  mutationStartedBetween(user: number, from: number, to: number): boolean {
    return this.users[user]!.mutationStarts.some((seq) => seq > from && seq < to)
  }

  readStarted(user: number, key: ReadKey): ReadTicket {
    const state = this.users[user]!
    return {
      user,
      key,
      startSeq: ++this.seq,
      deleted: new Set(state.deleted),
      refreshedAt: new Map(state.refreshedAt),
      userDeleted: state.userDeleted,
      clean: state.mutationsInFlight === 0,
      candidate: state.cleanSuccess.get(keyText(key)),
      generationLow: state.invalidatingReturned
    }
  }

  /** Checks a read's answer (`undefined` when it failed) against the marks seen at its start. */
  readReturned(ticket: ReadTicket, answer: ReadonlyArray<Observed> | undefined): Verdict {
    const state = this.users[ticket.user]!
    const endSeq = ++this.seq
    const expectHit = ticket.candidate !== undefined && state.lastMutationStart < ticket.candidate
    const generations = [ticket.generationLow, state.mutationsStarted] as const
    if (answer === undefined) return { expectHit, generations, endSeq }
    let crossUser: string | undefined
    let stale: string | undefined
    if (ticket.userDeleted) stale = `user ${state.userId} was deleted, yet ${keyText(ticket.key)} returned data`
    for (const credential of answer) {
      if (
        (credential.userId !== undefined && credential.userId !== state.userId) ||
        !state.credentialIds.has(credential.id)
      ) {
        crossUser ??= `${keyText(ticket.key)} for user ${state.userId} returned credential ${credential.id} of user ${
          credential.userId ?? "?"
        }`
      }
      if (ticket.key._tag === "get" && credential.id !== ticket.key.credentialId) {
        crossUser ??= `get ${ticket.key.credentialId} returned credential ${credential.id}`
      }
      if (ticket.deleted.has(credential.id)) {
        stale ??= `${keyText(ticket.key)} returned credential ${credential.id}, deleted before the read started`
      }
      const since = ticket.refreshedAt.get(credential.id)
      if (since !== undefined && (credential.statusUpdated ?? -Infinity) < since) {
        stale ??= `${keyText(ticket.key)} returned credential ${credential.id} with statusUpdated ${
          credential.statusUpdated ?? "none"
        }, older than a refresh that began at ${since} and returned before the read started`
      }
    }
    if (crossUser === undefined && stale === undefined && ticket.clean) {
      const text = keyText(ticket.key)
      const previous = state.cleanSuccess.get(text)
      if (previous === undefined || previous < ticket.startSeq) state.cleanSuccess.set(text, ticket.startSeq)
    }
    return { stale, crossUser, expectHit, generations, endSeq }
  }

  mutationStarted(
    user: number,
    op: MutationTicket["op"],
    credentialId: string | undefined,
    now: number
  ): MutationTicket {
    const state = this.users[user]!
    state.mutationsInFlight++
    state.mutationsStarted++
    state.lastMutationStart = ++this.seq
    state.mutationStarts.push(state.lastMutationStart)
    let since = now
    if (op === "refresh" && credentialId !== undefined) {
      const running = state.refreshing.get(credentialId) ?? []
      // A refresh that joins one in flight (shared in one process) may have been applied before it began.
      since = Math.min(now, ...running)
      running.push(now)
      state.refreshing.set(credentialId, running)
    }
    return { user, op, credentialId, since, startTime: now }
  }

  mutationReturned(ticket: MutationTicket, outcome: Outcome): void {
    const state = this.users[ticket.user]!
    ++this.seq
    state.mutationsInFlight--
    if (ticket.op === "refresh" && ticket.credentialId !== undefined) {
      const running = state.refreshing.get(ticket.credentialId) ?? []
      running.splice(running.indexOf(ticket.startTime), 1)
      if (running.length === 0) state.refreshing.delete(ticket.credentialId)
    }
    if (outcome !== "rejected") state.invalidatingReturned++
    if (outcome !== "success") return
    switch (ticket.op) {
      case "delete":
        state.deleted.add(ticket.credentialId!)
        return
      case "refresh": {
        const previous = state.refreshedAt.get(ticket.credentialId!)
        if (previous === undefined || previous < ticket.since) state.refreshedAt.set(ticket.credentialId!, ticket.since)
        return
      }
      case "deleteUser":
        state.userDeleted = true
        return
    }
  }
}
