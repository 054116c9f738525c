/**
 * The near-cache oracle (utils/nearWindow.ts with utils/oracle.ts) on crafted histories, no Redis:
 * it allows a read on another instance to get data from before a mutation only inside the window
 * (until that instance's near cache forgot the scope, or answered a command sent after the bump),
 * and fails a stale read after the push, after a clear (reconnect), on the mutating instance, and
 * any cross-user read. The live model test runs the same oracle on generated histories.
 */
import { assert, describe, it } from "@effect/vitest"
import { FiberRef } from "effect"
import { NearWindow, type ReadContext } from "./utils/nearWindow.js"
import { type Observed, Oracle } from "./utils/oracle.js"

const alice = "alice"
const scope = "u:alice"
const before: ReadonlyArray<Observed> = [{ id: "c1", userId: alice }, { id: "c2", userId: alice }]
const after: ReadonlyArray<Observed> = [{ id: "c2", userId: alice }]

/**
 * Two instances: B (1) has read alice's list (its near cache may hold it); A (0) deletes `c1`,
 * invalidating `u:alice` (its bump ran between `pre` and `post`), and the delete returns.
 * `beforeReturn` runs between the bump and the return (e.g. B's push arriving early).
 */
const history = (beforeReturn: (near: NearWindow) => void = () => {}) => {
  const near = new NearWindow("ns", FiberRef.unsafeMake(0))
  near.forgot(0, undefined)
  near.forgot(1, undefined)
  near.forgot(2, undefined)
  const oracle = new Oracle([{ userId: alice, credentialIds: ["c1", "c2"] }, { userId: "bob", credentialIds: ["c3"] }])
  let reads = 0
  near.readSent(1, scope, ++reads)
  const mutation = oracle.mutationStarted(0, "delete", "c1", 1_000)
  const start = near.now()
  const pre = near.now()
  const post = near.now()
  near.invalidated(scope, pre, post, -1)
  near.invalidated("t:*", near.now(), near.now(), -1)
  beforeReturn(near)
  oracle.mutationReturned(mutation, "success", undefined, { origin: 0, window: near.window(-1, start, near.now()) })
  /** A read of alice's list through `instance`: started now, reads the scope, returns `answer`. */
  const read = (instance: number, answer: ReadonlyArray<Observed>) => {
    const context: ReadContext = { instance, read: ++reads, at: near.now() }
    const ticket = oracle.readStarted(0, { _tag: "list" }, { instance, context })
    near.readSent(instance, scope, context.read)
    return oracle.readReturned(ticket, answer)
  }
  return { near, read }
}

describe("the near-cache oracle on crafted histories", () => {
  it("B before the push: the old list is allowed, and counted as inside the window", () => {
    const { read } = history()
    const verdict = read(1, before)
    assert.isUndefined(verdict.stale)
    assert.isDefined(verdict.staleInWindow)
    assert.isUndefined(read(1, after).stale)
  })

  it("B after the push: the old list is STALE", () => {
    const { near, read } = history()
    near.forgot(1, scope)
    assert.include(read(1, before).stale, "deleted before the read started")
    assert.isUndefined(read(1, after).stale)
  })

  it("B after its near cache was cleared (a reconnect): STALE", () => {
    const { near, read } = history()
    near.forgot(1, undefined)
    assert.include(read(1, before).stale, "deleted before the read started")
  })

  it("B after a push of another scope: still inside the window", () => {
    const { near, read } = history()
    near.forgot(1, "u:bob")
    assert.isUndefined(read(1, before).stale)
  })

  it("B after answering a command sent after the bump (the push was due before it): STALE", () => {
    const { near, read } = history()
    const sent = near.readSent(1, "u:bob", 99)
    near.answered(1, sent)
    assert.include(read(1, before).stale, "deleted before the read started")
  })

  it("A, the mutating instance, at once: STALE", () => {
    const { read } = history()
    assert.include(read(0, before).stale, "deleted before the read started")
  })

  it("an instance that never read the scope before the bump cannot hold old data: STALE", () => {
    const { read } = history()
    assert.include(read(2, before).stale, "deleted before the read started")
  })

  it("B's push handled before A saw its bump's reply closes the window, unless B read the scope again since", () => {
    // The push arrived before the delete returned, and B read nothing since: closed.
    const early = history((near) => near.forgot(1, scope))
    assert.include(early.read(1, before).stale, "deleted before the read started")
    // A forget (perhaps of an earlier change), then a read of the scope sent before the bump was
    // known to have run: that read may have refilled B with old data, until the next forget.
    const near = new NearWindow("ns", FiberRef.unsafeMake(0))
    near.forgot(1, undefined)
    near.readSent(1, scope, 1)
    near.forgot(1, scope)
    near.readSent(1, scope, 2)
    const post = near.now()
    assert.isFalse(near.settled(1, scope, post, near.now()))
    near.forgot(1, scope)
    assert.isTrue(near.settled(1, scope, post, near.now()))
  })

  it("another user's data is CROSS-USER, inside the window or not", () => {
    const { read } = history()
    const verdict = read(1, [...before, { id: "c3", userId: "bob" }])
    assert.include(verdict.crossUser, "credential c3 of user bob")
  })
})
