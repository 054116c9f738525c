/**
 * The reference model of the cache contract, used by the model-based property test and the soak.
 *
 * It never predicts what a read returns (overlapping reads and mutations may see either state);
 * it only knows what a read must NOT return:
 * - data of anyone but the user whose token made the read (C8): Tink answers for the token, so a
 *   session naming user A with user B's token reads B's data, never A's nor a third user's;
 * - data older than a mutation that returned before the read started (C5), whatever session or
 *   instance made the mutation: each mutation that succeeded leaves a mark on the user whose data
 *   Tink changed, and every later read of that user's data must show it. The marks are monotone,
 *   so a correct implementation can never fail them:
 *   - a deleted credential is absent from lists, and getting it is not a success;
 *   - a refreshed credential has `statusUpdated` at or after the refresh began (Tink stamps the
 *     start of a refresh, and later steps only move it forward);
 *   - a deleted user's token reads nothing.
 *
 * A mark can be local to one instance: a mutation made while that instance could not reach the
 * shared store is, by C9, applied there at once and delivered to the others later. Its mark then
 * binds reads through that instance only, until `deliver(instance)` (the instance closed, which
 * must deliver what is pending) makes it bind everyone.
 *
 * A mark can also be windowed (a store with a near cache, issue 12): it binds reads through the
 * instance that made the mutation at once, and reads through any other instance only once that
 * instance can no longer serve data from before it, which the caller decides per read (`Window`,
 * given the `context` the read started with; see nearWindow.ts). A read whose windowed mark does
 * not bind yet may return the old data; once it binds, the old data is STALE as always.
 *
 * It also knows when a read must be a cache hit: after a successful read through the same session
 * (named user and token) and key has returned, with no mutation touching either user in flight
 * since that read started (C5, C7: the earlier read stored its answer in the shared store before
 * returning).
 */

/** The part of a credential the oracle looks at. */
export interface Observed {
  readonly id: string
  readonly userId?: string | undefined
  readonly statusUpdated?: number | null | undefined
}

export type ReadKey = { readonly _tag: "list" } | { readonly _tag: "get"; readonly credentialId: string }

const keyText = (key: ReadKey): string => key._tag === "list" ? "list" : `get ${key.credentialId}`

/**
 * When a windowed mark (see the class comment) binds a read through an instance other than the one
 * that made the mutation. `closes` is asked once the read has returned, with the `context` the read
 * was started with (what it read is known by then; when it started is in the context).
 */
export interface Window {
  readonly closes: (context: unknown) => boolean
}

/** Where a mark binds: every instance; or these at once, and the others once one of `windows` closes. */
type Reach = "all" | { readonly local: ReadonlySet<number>; readonly windows: ReadonlyArray<Window> }

const binds = (reach: Reach | undefined, instance: number | undefined): boolean =>
  reach !== undefined && (reach === "all" || (instance !== undefined && reach.local.has(instance)))

/** The windows a mark binds through, when it does not bind at once. */
const windowsOf = (reach: Reach | undefined, instance: number | undefined): ReadonlyArray<Window> =>
  reach === undefined || binds(reach, instance) || reach === "all" ? [] : reach.windows

/** A mark seen at a read's start that binds it only if one of its windows has closed by then. */
type Conditional =
  | { readonly _tag: "deleted"; readonly credentialId: string; readonly windows: ReadonlyArray<Window> }
  | {
    readonly _tag: "refreshed"
    readonly credentialId: string
    readonly since: number
    readonly windows: ReadonlyArray<Window>
  }
  | { readonly _tag: "userDeleted"; readonly windows: ReadonlyArray<Window> }

interface UserState {
  readonly userId: string
  readonly credentialIds: Set<string>
  /** Marks of mutations that returned successfully, with where they bind. */
  readonly deleted: Map<string, Reach>
  /** Per credential: lower bounds for `statusUpdated` set by returned refreshes. */
  readonly refreshedAt: Map<string, Array<{ readonly since: number; readonly reach: Reach }>>
  userDeleted: Reach | undefined
  /** Refreshes in flight per credential: their start times. */
  readonly refreshing: Map<string, Array<number>>
  mutationsInFlight: number
  /** Sequence number of the last start of a mutation touching this user (for hit expectations). */
  lastMutationStart: number
  mutationsStarted: number
  /** Mutations that returned and moved the user's generation (success or ambiguous failure). */
  invalidatingReturned: number
  /** Sequence numbers of every start of a mutation touching this user, ascending. */
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
  /** A clean successful read of the same session and key that ended before this one started. */
  readonly candidate: number | undefined
  readonly generationLow: number
  readonly session: string
  readonly touches: ReadonlyArray<number>
  /** Windowed marks that bind the read only if their window has closed (decided at its return). */
  readonly conditional: ReadonlyArray<Conditional>
  readonly context: unknown
}

export interface MutationTicket {
  readonly user: number
  readonly op: "delete" | "refresh" | "deleteUser"
  readonly credentialId: string | undefined
  /** For a refresh: the lower bound its mark sets (the earliest refresh of it in flight). */
  readonly since: number
  readonly startTime: number
  readonly touches: ReadonlyArray<number>
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
  /**
   * Set when the read returned data older than a mutation whose window (near cache) was still open
   * when the read started: allowed, and counted to show the window is exercised.
   */
  readonly staleInWindow?: string | undefined
  /** Some windowed mark did not bind the read yet (its window was open when the read started). */
  readonly inWindow?: boolean | undefined
}

const apply = (
  mark: Conditional,
  deleted: Set<string>,
  refreshedAt: Map<string, number>,
  userDeleted: { bound: boolean }
) => {
  if (mark._tag === "deleted") deleted.add(mark.credentialId)
  else if (mark._tag === "refreshed") {
    refreshedAt.set(mark.credentialId, Math.max(refreshedAt.get(mark.credentialId) ?? 0, mark.since))
  } else userDeleted.bound = true
}

/** In `touches`: every mutation, whoever it changes (what a session without a user id may depend on). */
export const everyone = -1

const freshState = (userId: string): UserState => ({
  userId,
  credentialIds: new Set(),
  deleted: new Map(),
  refreshedAt: new Map(),
  userDeleted: undefined,
  refreshing: new Map(),
  mutationsInFlight: 0,
  lastMutationStart: -1,
  mutationsStarted: 0,
  invalidatingReturned: 0,
  mutationStarts: []
})

export class Oracle {
  private seq = 0
  private readonly users: Array<UserState>
  private readonly all: UserState = freshState("(everyone)")
  /** Per session (named user and token) and key: start sequence of the latest clean successful read. */
  private readonly cleanSuccess = new Map<string, number>()
  private readonly owners = new Map<string, number>()

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

  /** The user a credential belongs to, by the model's seeding. */
  ownerOf(credentialId: string): number | undefined {
    return this.owners.get(credentialId)
  }

  /** A user added after the start (the soak replaces deleted users); returns its index. */
  addUser(userId: string, credentialIds: Iterable<string>): number {
    this.users.push(freshState(userId))
    const user = this.users.length - 1
    for (const id of credentialIds) this.addCredential(user, id)
    return user
  }

  /** A credential seeded for the user after the start (the soak replaces deleted ones). */
  addCredential(user: number, credentialId: string): void {
    this.users[user]!.credentialIds.add(credentialId)
    this.owners.set(credentialId, user)
  }

  /** Whether a mutation that returned deleted the credential, as everyone must see it. */
  isDeleted(user: number, credentialId: string): boolean {
    return this.users[user]!.deleted.get(credentialId) === "all"
  }

  isUserDeleted(user: number): boolean {
    return this.users[user]!.userDeleted === "all"
  }

  private state(user: number): UserState {
    return user === everyone ? this.all : this.users[user]!
  }

  /** Whether a mutation touching the user (or, for `everyone`, any) started strictly between two sequence numbers. */
  mutationStartedBetween(user: number, from: number, to: number): boolean {
    return this.state(user).mutationStarts.some((seq) => seq > from && seq < to)
  }

  /**
   * A read of `user`'s data: `user` is the owner of the token that makes it. `session` names the
   * session (default: the user's own); `touches` are further users whose mutations may move the
   * session's scope (the user a mismatched session names; `everyone` for a session without a
   * user id, which may depend on every mutation); `instance` is where it runs.
   */
  readStarted(
    user: number,
    key: ReadKey,
    options: {
      readonly session?: string | undefined
      readonly touches?: ReadonlyArray<number> | undefined
      readonly instance?: number | undefined
      /** Handed to the windows of windowed marks when the read returns (see `Window`). */
      readonly context?: unknown
    } = {}
  ): ReadTicket {
    const state = this.users[user]!
    const touches = [user, ...(options.touches ?? []).filter((other) => other !== user)]
    const session = options.session ?? String(user)
    const deleted = new Set<string>()
    const conditional: Array<Conditional> = []
    for (const [id, reach] of state.deleted) {
      if (binds(reach, options.instance)) deleted.add(id)
      else {
        const windows = windowsOf(reach, options.instance)
        if (windows.length > 0) conditional.push({ _tag: "deleted", credentialId: id, windows })
      }
    }
    const refreshedAt = new Map<string, number>()
    for (const [id, marks] of state.refreshedAt) {
      for (const mark of marks) {
        if (binds(mark.reach, options.instance)) refreshedAt.set(id, Math.max(refreshedAt.get(id) ?? 0, mark.since))
        else {
          const windows = windowsOf(mark.reach, options.instance)
          if (windows.length > 0) conditional.push({ _tag: "refreshed", credentialId: id, since: mark.since, windows })
        }
      }
    }
    const userWindows = windowsOf(state.userDeleted, options.instance)
    if (userWindows.length > 0) conditional.push({ _tag: "userDeleted", windows: userWindows })
    return {
      user,
      key,
      startSeq: ++this.seq,
      deleted,
      refreshedAt,
      userDeleted: binds(state.userDeleted, options.instance),
      clean: touches.every((u) => this.state(u).mutationsInFlight === 0),
      candidate: this.cleanSuccess.get(`${session} ${keyText(key)}`),
      generationLow: touches.reduce((sum, u) => sum + this.state(u).invalidatingReturned, 0),
      session,
      touches,
      conditional,
      context: options.context
    }
  }

  /**
   * Checks a read's answer (`undefined` when it failed) against the marks seen at its start.
   * `stored: false`: the read could not have stored its answer (its store failed), so it does
   * not make later reads due to be hits.
   */
  readReturned(ticket: ReadTicket, answer: ReadonlyArray<Observed> | undefined, stored = true): Verdict {
    const endSeq = ++this.seq
    const expectHit = ticket.candidate !== undefined &&
      ticket.touches.every((u) => this.state(u).lastMutationStart < ticket.candidate!)
    const generations = [
      ticket.generationLow,
      ticket.touches.reduce((sum, u) => sum + this.state(u).mutationsStarted, 0)
    ] as const
    if (answer === undefined) return { expectHit, generations, endSeq }
    // Windowed marks bind now if their window had closed when the read started; the others are
    // checked too, to tell reads that got old data inside their window (allowed) apart.
    const deleted = new Set(ticket.deleted)
    const refreshedAt = new Map(ticket.refreshedAt)
    const userDeleted = { bound: ticket.userDeleted }
    const open: Array<Conditional> = []
    for (const mark of ticket.conditional) {
      if (mark.windows.some((window) => window.closes(ticket.context))) apply(mark, deleted, refreshedAt, userDeleted)
      else open.push(mark)
    }
    const { crossUser, stale } = this.check(ticket, answer, deleted, refreshedAt, userDeleted.bound)
    let staleInWindow: string | undefined
    if (open.length > 0 && stale === undefined) {
      for (const mark of open) apply(mark, deleted, refreshedAt, userDeleted)
      staleInWindow = this.check(ticket, answer, deleted, refreshedAt, userDeleted.bound).stale
    }
    if (crossUser === undefined && stale === undefined && ticket.clean && stored) {
      const text = `${ticket.session} ${keyText(ticket.key)}`
      const previous = this.cleanSuccess.get(text)
      if (previous === undefined || previous < ticket.startSeq) this.cleanSuccess.set(text, ticket.startSeq)
    }
    return { stale, crossUser, expectHit, generations, endSeq, staleInWindow, inWindow: open.length > 0 }
  }

  private check(
    ticket: ReadTicket,
    answer: ReadonlyArray<Observed>,
    deleted: ReadonlySet<string>,
    refreshedAt: ReadonlyMap<string, number>,
    userDeleted: boolean
  ): { readonly crossUser: string | undefined; readonly stale: string | undefined } {
    const state = this.users[ticket.user]!
    let crossUser: string | undefined
    let stale: string | undefined
    if (userDeleted) stale = `user ${state.userId} was deleted, yet ${keyText(ticket.key)} returned data`
    for (const credential of answer) {
      if (
        (credential.userId !== undefined && credential.userId !== state.userId) ||
        !state.credentialIds.has(credential.id)
      ) {
        crossUser ??= `${
          keyText(ticket.key)
        } with user ${state.userId}'s token returned credential ${credential.id} of user ${credential.userId ?? "?"}`
      }
      if (ticket.key._tag === "get" && credential.id !== ticket.key.credentialId) {
        crossUser ??= `get ${ticket.key.credentialId} returned credential ${credential.id}`
      }
      if (deleted.has(credential.id)) {
        stale ??= `${keyText(ticket.key)} returned credential ${credential.id}, deleted before the read started`
      }
      const since = refreshedAt.get(credential.id)
      if (since !== undefined && (credential.statusUpdated ?? -Infinity) < since) {
        stale ??= `${keyText(ticket.key)} returned credential ${credential.id} with statusUpdated ${
          credential.statusUpdated ?? "none"
        }, older than a refresh that began at ${since} and returned before the read started`
      }
    }
    return { crossUser, stale }
  }

  /**
   * A mutation of `user`'s data at Tink (for a credential, its owner; for `deleteUser`, the user
   * named). `touches` are further users whose scopes it may move (the user a mismatched session
   * names, or the token's owner).
   */
  mutationStarted(
    user: number,
    op: MutationTicket["op"],
    credentialId: string | undefined,
    now: number,
    touchesOthers: ReadonlyArray<number> = []
  ): MutationTicket {
    const touches = [user, everyone, ...touchesOthers.filter((other) => other !== user && other !== everyone)]
    const seq = ++this.seq
    for (const u of touches) {
      const touched = this.state(u)
      touched.mutationsInFlight++
      touched.mutationsStarted++
      touched.lastMutationStart = seq
      touched.mutationStarts.push(seq)
    }
    const state = this.users[user]!
    let since = now
    if (op === "refresh" && credentialId !== undefined) {
      const running = state.refreshing.get(credentialId) ?? []
      // A refresh that joins one in flight (shared in one process) may have been applied before it began.
      since = Math.min(now, ...running)
      running.push(now)
      state.refreshing.set(credentialId, running)
    }
    return { user, op, credentialId, since, startTime: now, touches }
  }

  /**
   * `localTo`: the mutation's invalidation may be pending in that instance (its link to the shared
   * store failed meanwhile): its mark binds reads through that instance only, until `deliver`.
   * Else `windowed`: the mark binds reads through `origin` (the instance that made the mutation) at
   * once, and through the others once `window` closes (a store with a near cache). Neither: the
   * mark binds every read from now on.
   */
  mutationReturned(
    ticket: MutationTicket,
    outcome: Outcome,
    localTo?: number,
    windowed?: { readonly origin: number; readonly window: Window }
  ): void {
    const state = this.users[ticket.user]!
    ++this.seq
    for (const u of ticket.touches) {
      const touched = this.state(u)
      touched.mutationsInFlight--
      if (outcome !== "rejected") touched.invalidatingReturned++
    }
    if (ticket.op === "refresh" && ticket.credentialId !== undefined) {
      const running = state.refreshing.get(ticket.credentialId) ?? []
      running.splice(running.indexOf(ticket.startTime), 1)
      if (running.length === 0) state.refreshing.delete(ticket.credentialId)
    }
    if (outcome !== "success") return
    const reach = (previous: Reach | undefined): Reach => {
      if (previous === "all") return "all"
      const origin = localTo ?? windowed?.origin
      if (origin === undefined) return "all"
      return {
        local: new Set([...(previous?.local ?? []), origin]),
        windows: [...(previous?.windows ?? []), ...(localTo === undefined && windowed ? [windowed.window] : [])]
      }
    }
    switch (ticket.op) {
      case "delete":
        state.deleted.set(ticket.credentialId!, reach(state.deleted.get(ticket.credentialId!)))
        return
      case "refresh": {
        const marks = state.refreshedAt.get(ticket.credentialId!) ?? []
        marks.push({ since: ticket.since, reach: reach(undefined) })
        state.refreshedAt.set(ticket.credentialId!, marks)
        return
      }
      case "deleteUser":
        state.userDeleted = reach(state.userDeleted)
        return
    }
  }

  /** The instance closed: what it held pending must now have reached every instance. */
  deliver(instance: number): void {
    // Only marks held pending there (no window): a windowed mark was delivered when it was made.
    const promote = (reach: Reach): Reach =>
      reach !== "all" && reach.windows.length === 0 && reach.local.has(instance) ? "all" : reach
    for (const state of this.users) {
      for (const [id, reach] of state.deleted) state.deleted.set(id, promote(reach))
      for (const marks of state.refreshedAt.values()) {
        for (const [i, mark] of marks.entries()) marks[i] = { since: mark.since, reach: promote(mark.reach) }
      }
      if (state.userDeleted !== undefined) state.userDeleted = promote(state.userDeleted)
    }
  }
}

/**
 * What Tink must look like after a run: a user is gone only if a `deleteUser` named it (finding
 * 4: `deleteUser(A)` with a session holding B's token in context must delete A, never B), and a
 * credential is gone or refreshed only if a mutation through a session naming its owner asked for
 * it. With `tokenMayAct`, a credential mutation may also act on the credentials of the token's
 * owner (Tink acts for the token; the caller asked for that very credential with that token).
 */
export class TinkLedger {
  private readonly allowed = new Map<string, { deleteUser: boolean; credentials: Set<string> }>()
  private readonly attempts = new Map<string, Array<string>>()

  constructor(
    private readonly seeded: ReadonlyArray<{
      readonly userId: string
      readonly credentials: ReadonlyArray<{ readonly id: string; readonly statusUpdated: number | null }>
    }>,
    private readonly tokenMayAct: boolean
  ) {
    for (const user of seeded) this.allowed.set(user.userId, { deleteUser: false, credentials: new Set() })
  }

  /** A mutation is about to be sent through a session naming `namedUserId` with `tokenUserId`'s token. */
  attempt(
    namedUserId: string,
    tokenUserId: string,
    op: "delete" | "refresh" | "deleteUser",
    credentialId: string | undefined,
    label: string
  ) {
    const allowed = this.allowed.get(namedUserId)
    if (allowed !== undefined) {
      if (op === "deleteUser") allowed.deleteUser = true
      else if (credentialId !== undefined) allowed.credentials.add(credentialId)
    }
    const byToken = this.allowed.get(tokenUserId)
    if (this.tokenMayAct && byToken !== undefined && op !== "deleteUser" && credentialId !== undefined) {
      byToken.credentials.add(credentialId)
    }
    const key = credentialId ?? namedUserId
    this.attempts.set(key, [...(this.attempts.get(key) ?? []), label])
  }

  /** Compares Tink's state with what the mutations asked for; returns the violations. */
  check(tink: {
    readonly exists: (userId: string) => boolean
    readonly credentials: (
      userId: string
    ) => ReadonlyArray<{ readonly id: string; readonly statusUpdated: number | null }>
  }): Array<string> {
    const violations: Array<string> = []
    const who = (key: string) => `(mutations: ${(this.attempts.get(key) ?? []).join("; ") || "none"})`
    for (const user of this.seeded) {
      const allowed = this.allowed.get(user.userId)!
      if (!tink.exists(user.userId)) {
        if (!allowed.deleteUser) {
          violations.push(`TINK: user ${user.userId} was deleted, though no deleteUser named it ${who(user.userId)}`)
        }
        continue
      }
      const now = new Map(tink.credentials(user.userId).map((credential) => [credential.id, credential]))
      for (const credential of user.credentials) {
        if (allowed.credentials.has(credential.id)) continue
        const current = now.get(credential.id)
        if (current === undefined) {
          violations.push(
            `TINK: credential ${credential.id} of user ${user.userId} was deleted by no session naming that user ${
              who(credential.id)
            }`
          )
        } else if (current.statusUpdated !== credential.statusUpdated) {
          violations.push(
            `TINK: credential ${credential.id} of user ${user.userId} was refreshed by no session naming that user ${
              who(credential.id)
            }`
          )
        }
      }
    }
    return violations
  }
}
