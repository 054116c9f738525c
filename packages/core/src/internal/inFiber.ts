/**
 * The hooks that let a cache hit take one effect step: properties, keyed by symbols of this
 * module, of the services `ResponseCache.make` and `TinkClient.make` build, and a side table of
 * the effects `TinkClient.getForUser` builds. A service or effect built elsewhere (a test double,
 * a copy of this package of another version) lacks them and is used through its public interface.
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type { Lookup } from "../ResponseCache.js"
import type * as TinkClient from "../TinkClient.js"
import type * as TinkError from "../TinkError.js"
import type * as TinkUser from "../TinkUser.js"

/** The fiber a hook runs in: it is given from inside `Effect.withFiberRuntime`. */
export type RunningFiber = Fiber.RuntimeFiber<unknown, unknown>

/** `ResponseCache.Service`'s lookup for a caller that already runs in `fiber`. */
export const lookupIn: unique symbol = Symbol("@tink-effect/core/ResponseCache/lookupIn")

/** @internal */
export type LookupIn = <A, I, E>(fiber: RunningFiber, request: Lookup<A, I, E>) => Effect.Effect<A, E>

/**
 * The effects of `TinkClient.getForUser`, each with the same read given its session instead of
 * taking it from context, so providing the session (`TinkUser.provide`) leaves the fiber's
 * context alone. A side table rather than a property: an effect with a property of its own has
 * another shape than every other effect, which the fiber's run loop would then meet on each step.
 */
export const withSession = new WeakMap<object, WithSession<any, any, any>>()

/** @internal */
export type WithSession<A, E, R> = (session: TinkUser.Session) => Effect.Effect<A, E, R>

/**
 * A read of `TinkClient.getForUser`, with what its path gives worked out once, when the read is
 * built, rather than on every hit.
 */
export interface PreparedRead<A, I> {
  readonly path: string
  readonly options: TinkClient.UserReadOptions<A, I>
  /** `CachePolicy.requestKey` of the read. */
  readonly key: string
  /** The kind of data read, for the cache counters' labels. */
  readonly resource: string
}

/** `TinkClient.Service`'s cached read of a session's data, for a caller that already runs in `fiber`. */
export const readIn: unique symbol = Symbol("@tink-effect/core/TinkClient/readIn")

/** @internal */
export type ReadIn = <A, I>(
  fiber: RunningFiber,
  read: PreparedRead<A, I>,
  session: TinkUser.Session
) => Effect.Effect<A, TinkError.TinkError>

/**
 * A `Lookup`'s fetch for a fiber started to run it alone, which ends when it does (the single
 * flight's run): what the fetch sets in that fiber's context needs no restoring, and its end is
 * the fiber's. `TinkClient`'s reads open their operation's span so, without a context change to
 * undo or an exit handler.
 */
export const fetchAlone: unique symbol = Symbol("@tink-effect/core/ResponseCache/fetchAlone")

/**
 * What may carry the hooks. Each is read at its own call site with its own symbol (a shared
 * reader of any symbol off any object would be a megamorphic load on every hit).
 */
export interface Hooks {
  readonly [lookupIn]?: LookupIn | undefined
  readonly [readIn]?: ReadIn | undefined
  readonly [fetchAlone]?: (() => Effect.Effect<any, any>) | undefined
}
