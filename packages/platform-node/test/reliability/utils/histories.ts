/**
 * The histories the model test generates: commands through users' own and mismatched sessions,
 * and fault episodes (an instance's store failing, Redis filled, rolled back, an instance closed
 * and replaced; on Redis Cluster a failover or connections killed), laid out one after the other
 * between the commands.
 */
import { FastCheck } from "effect"

export type Op = "list" | "get" | "delete" | "refresh" | "deleteUser"

export interface Command {
  readonly op: Op
  /** Indexes are taken modulo the number of users, credentials and instances. */
  readonly user: number
  readonly credential: number
  readonly instance: number
  /** Milliseconds after the previous command started. */
  readonly gap: number
  /**
   * 0: the user's own session. k > 0: a session naming `user` that holds the token of user
   * `user + k` (modulo the number of users; with one user it is the own session).
   */
  readonly mismatch: number
  /** With a mismatched session: the credential is the token owner's (else the named user's). */
  readonly tokenOwnersCredential: boolean
}

export interface UserSpec {
  readonly credentials: number
  /** False: the session has only a token, so its cache scope is a hash of the token. */
  readonly withUserId: boolean
}

/** How an instance's store fails: every read refused at once, or answered only after the bound. */
export type DegradeMode = "refuse" | "timeout"

/** One change to the world, applied between commands. */
export type Fault =
  | { readonly _tag: "degrade"; readonly instance: number; readonly mode: DegradeMode }
  | { readonly _tag: "restore"; readonly instance: number }
  /** Close the instance's layer (after restoring its link) and start a new instance in its place. */
  | { readonly _tag: "close"; readonly instance: number }
  | { readonly _tag: "oom" }
  | { readonly _tag: "oomEnd" }
  | { readonly _tag: "snapshot" }
  /** Restart Redis from the last snapshot: what was written since is lost. */
  | { readonly _tag: "rollback" }
  /**
   * Redis Cluster: a replica of the primary serving the slot of a scope the history uses (picked
   * by `target`, see `Worlds.cluster`) is asked to take over (`CLUSTER FAILOVER`, with `FORCE` when
   * `forced`: no handshake with the old primary). The world returns once it is asked, not once it
   * is done: the commands after it run while the failover does.
   */
  | { readonly _tag: "failover"; readonly target: number; readonly forced: boolean }
  /** Redis Cluster: every store connection to the `target`-th primary (modulo) is killed (`CLIENT KILL`). */
  | { readonly _tag: "clientKill"; readonly target: number }

export interface Event {
  /** Runs when command `at` is due (before it). */
  readonly at: number
  readonly fault: Fault
}

export interface Scenario {
  /** Seeds the Random the sandbox draws its latencies from (memory variant). */
  readonly seed: number
  readonly instances: number
  readonly users: ReadonlyArray<UserSpec>
  readonly commands: ReadonlyArray<Command>
  readonly events: ReadonlyArray<Event>
}

const commandArbitrary = (maxGap: number, mismatched: boolean): FastCheck.Arbitrary<Command> =>
  FastCheck.record({
    op: FastCheck.oneof(
      { weight: 8, arbitrary: FastCheck.constant("list" as const) },
      { weight: 7, arbitrary: FastCheck.constant("get" as const) },
      { weight: 3, arbitrary: FastCheck.constant("delete" as const) },
      { weight: 3, arbitrary: FastCheck.constant("refresh" as const) },
      { weight: 1, arbitrary: FastCheck.constant("deleteUser" as const) }
    ),
    user: FastCheck.nat(7),
    credential: FastCheck.nat(7),
    instance: FastCheck.nat(5),
    gap: FastCheck.nat(maxGap),
    mismatch: mismatched
      ? FastCheck.oneof({ weight: 4, arbitrary: FastCheck.constant(0) }, {
        weight: 1,
        arbitrary: FastCheck.integer({ min: 1, max: 3 })
      })
      : FastCheck.constant(0),
    tokenOwnersCredential: FastCheck.boolean()
  })

/** Kinds of fault episode a world can play; each becomes a start event and an end event. */
export type EpisodeKind =
  | "degrade"
  | "degradeThenClose"
  | "oom"
  | "rollback"
  | "close"
  /** Redis Cluster only: a failover (coordinated, or `FORCE`) asked for at the episode's start. */
  | "failover"
  | "forcedFailover"
  /** Redis Cluster only: store connections killed on one node, at the episode's start. */
  | "clientKill"

const episodeEvents = (
  kind: EpisodeKind,
  instance: number,
  mode: DegradeMode,
  start: number,
  end: number
): ReadonlyArray<Event> => {
  switch (kind) {
    case "degrade":
      return [{ at: start, fault: { _tag: "degrade", instance, mode } }, {
        at: end,
        fault: { _tag: "restore", instance }
      }]
    case "degradeThenClose":
      return [{ at: start, fault: { _tag: "degrade", instance, mode } }, {
        at: end,
        fault: { _tag: "close", instance }
      }]
    case "oom":
      return [{ at: start, fault: { _tag: "oom" } }, { at: end, fault: { _tag: "oomEnd" } }]
    case "rollback":
      return [{ at: start, fault: { _tag: "snapshot" } }, { at: end, fault: { _tag: "rollback" } }]
    case "close":
      return [{ at: end, fault: { _tag: "close", instance } }]
    case "failover":
    case "forcedFailover":
      return [{ at: start, fault: { _tag: "failover", target: instance, forced: kind === "forcedFailover" } }]
    case "clientKill":
      return [{ at: start, fault: { _tag: "clientKill", target: instance } }]
  }
}

export const scenarioArbitrary = (options: {
  readonly minCommands: number
  readonly maxCommands: number
  readonly maxGap: number
  /** Generate mismatched sessions (a session naming one user with another user's token). */
  readonly mismatched?: boolean | undefined
  /** Fault episodes to generate (none by default); at most `maxEpisodes`, one after the other. */
  readonly episodes?: ReadonlyArray<EpisodeKind> | undefined
  readonly maxEpisodes?: number | undefined
  readonly minInstances?: number | undefined
  /** Fewer users and credentials make the same key meet more often (default 4 and 4). */
  readonly maxUsers?: number | undefined
  readonly maxCredentials?: number | undefined
}): FastCheck.Arbitrary<Scenario> => {
  const kinds = options.episodes ?? []
  const episodes = kinds.length === 0
    ? FastCheck.constant([])
    : FastCheck.array(
      FastCheck.record({
        kind: FastCheck.constantFrom(...kinds),
        instance: FastCheck.nat(5),
        mode: FastCheck.constantFrom<DegradeMode>("refuse", "timeout"),
        before: FastCheck.nat(6),
        length: FastCheck.integer({ min: 3, max: 20 })
      }),
      { minLength: 1, maxLength: options.maxEpisodes ?? 3 }
    )
  return FastCheck.record({
    seed: FastCheck.integer(),
    instances: FastCheck.integer({ min: options.minInstances ?? 1, max: 3 }),
    users: FastCheck.array(
      FastCheck.record({
        credentials: FastCheck.integer({ min: 1, max: options.maxCredentials ?? 4 }),
        withUserId: FastCheck.boolean()
      }),
      { minLength: 1, maxLength: options.maxUsers ?? 4 }
    ),
    commands: FastCheck.array(commandArbitrary(options.maxGap, options.mismatched === true), {
      minLength: options.minCommands,
      maxLength: options.maxCommands
    }),
    episodes
  }).map(({ episodes, ...rest }) => {
    const events: Array<Event> = []
    let cursor = 0
    for (const episode of episodes) {
      const start = cursor + episode.before
      const end = start + episode.length
      if (end >= rest.commands.length) break
      events.push(...episodeEvents(episode.kind, episode.instance % rest.instances, episode.mode, start, end))
      cursor = end + 1
    }
    return { ...rest, events }
  })
}
