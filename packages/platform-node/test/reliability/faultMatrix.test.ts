/**
 * Tink faults over real sockets, through the sandbox and a TCP proxy the test controls, for one
 * read (listCredentials), one app-level mutation (createUser) and one user-level mutation
 * (deleteCredential). Each case checks the typed error (or success), how many attempts the
 * client made (retries only where safe), what reached Tink, how many users were created (never a
 * duplicate) and the cache state afterwards. The table is printed for RELIABILITY.md.
 */
import { HttpClient } from "@effect/platform"
import { afterAll, assert, describe, it } from "@effect/vitest"
import type { TinkClient, TinkError } from "@tink-effect/core"
import type { Sandbox } from "@tink-effect/sandbox"
import { Users } from "@tink-effect/users"
import { Duration, Effect, Exit } from "effect"
import type * as FaultProxy from "./utils/faultProxy.js"
import { create, list, type Rig } from "./utils/tinkRig.js"
import * as TinkRig from "./utils/tinkRig.js"

type Operation = "read" | "createUser" | "deleteCredential"

interface Fault {
  readonly name: string
  /** A sandbox fault on the operation's request, or a proxy mode for all traffic. */
  readonly sandbox?: Sandbox.Fault | undefined
  readonly times?: number | undefined
  readonly proxy?: FaultProxy.Mode | undefined
  /** The proxy goes back to open after the first failed attempt. */
  readonly recovers?: boolean | undefined
  /** How long Tink may still be processing after the client gave up. */
  readonly settleMillis?: number | undefined
  /** Client settings for this row (default: 2 s attempt timeout, 2 retries from 20 ms). */
  readonly config?: Partial<TinkClient.Options> | undefined
}

/** What a case ends with. */
interface Outcome {
  /** "ok", or the error tag with its telling details. */
  readonly result: string
  /** Attempts the client made: 1 means no retry. */
  readonly attempts: number
  /** Requests that reached the sandbox. */
  readonly reached: number
  /** read: whether the answer was cached; createUser: users created; deleteCredential: cache and Tink state. */
  readonly after: string
}

const describeError = (error: TinkError.TinkError): string => {
  switch (error._tag) {
    case "TinkNetworkError":
      return `TinkNetworkError (${error.mayHaveReachedTink ? "may have reached Tink" : "not sent"})`
    case "TinkRateLimitError":
      return `TinkRateLimitError (retryAfter ${
        error.retryAfter === undefined ? "none" : Duration.format(error.retryAfter)
      })`
    case "TinkApiError":
      return `TinkApiError ${error.status}${error.errorMessage === undefined ? " (no Tink message)" : ""}`
    default:
      return error._tag
  }
}

const inject = (rig: Rig, fault: Fault, method: string, path: string) =>
  Effect.gen(function*() {
    if (fault.sandbox !== undefined) {
      yield* rig.sandbox.setFaults([{ method, path, times: fault.times, fault: fault.sandbox }])
    }
    if (fault.proxy !== undefined) yield* rig.proxy.set(fault.proxy)
    // The client must see its pooled connections closed before it sends: otherwise a request
    // written on a closing socket is (rightly) "may have reached Tink", not "refused".
    if (fault.proxy?._tag === "refuse") yield* Effect.sleep("50 millis")
  })

const clear = (rig: Rig) => Effect.zipRight(rig.sandbox.clearFaults, rig.proxy.set({ _tag: "open" }))

/** Runs one case: warm up what the operation needs, inject, run, settle, clear, look at the state. */
const runCase = (fault: Fault, operation: Operation) =>
  Effect.gen(function*() {
    const hooks = { onFailure: Effect.void as Effect.Effect<void> }
    const rig = yield* TinkRig.make({
      config: { requestTimeout: "2 seconds", ...fault.config },
      transport: (client) =>
        HttpClient.transformResponse(client, (response) => Effect.tapError(response, () => hooks.onFailure))
    })
    if (fault.recovers === true) hooks.onFailure = rig.proxy.set({ _tag: "open" })
    const settle = Effect.sleep(fault.settleMillis ?? 0)
    const outcome = (exit: Exit.Exit<unknown, TinkError.TinkError>) =>
      Exit.match(exit, { onSuccess: () => "ok", onFailure: (cause) => describeCause(cause) })

    switch (operation) {
      case "read": {
        yield* inject(rig, fault, "GET", list)
        const exit = yield* Effect.exit(rig.asUser(Users.listCredentials()))
        yield* settle
        yield* clear(rig)
        const attempts = rig.attempts("GET", list)
        const reached = yield* rig.sandbox.requestCount("GET", list)
        yield* rig.asUser(Users.listCredentials())
        const upstreamAfter = (yield* rig.sandbox.requestCount("GET", list)) - reached
        yield* rig.asUser(Users.listCredentials())
        const upstreamThen = (yield* rig.sandbox.requestCount("GET", list)) - reached
        assert.strictEqual(upstreamThen, upstreamAfter, "the cache works again after the fault")
        return {
          result: outcome(exit),
          attempts,
          reached,
          after: Exit.isSuccess(exit)
            ? (upstreamAfter === 0 ? "answer cached" : "answer NOT cached")
            : (upstreamAfter === 1 ? "nothing cached" : "an error was cached")
        } satisfies Outcome
      }
      case "createUser": {
        // The app token is fetched first, so the fault hits the creation alone.
        yield* rig.asApp(Users.createUser({ market: "SE" }))
        yield* rig.sandbox.resetCounters
        rig.resetAttempts()
        yield* inject(rig, fault, "POST", create)
        const exit = yield* Effect.exit(rig.asApp(Users.createUser({ market: "SE" })))
        yield* settle
        yield* clear(rig)
        const users = yield* rig.sandbox.usersCreated
        return {
          result: outcome(exit),
          attempts: rig.attempts("POST", create),
          reached: yield* rig.sandbox.requestCount("POST", create),
          after: `${users} user${users === 1 ? "" : "s"} created`
        } satisfies Outcome
      }
      case "deleteCredential": {
        const id = rig.credentials[1]!
        const path = `/api/v1/credentials/${id}`
        yield* rig.asUser(Users.listCredentials())
        // The ownership check's read of the credential is cached first, so the fault hits the DELETE alone.
        yield* rig.asUser(Users.getCredential(id))
        yield* inject(rig, fault, "DELETE", path)
        const exit = yield* Effect.exit(rig.asUser(Users.deleteCredential(id)))
        yield* settle
        yield* clear(rig)
        const before = yield* rig.sandbox.requestCount("GET", list)
        const listed = yield* rig.asUser(Users.listCredentials())
        const invalidated = (yield* rig.sandbox.requestCount("GET", list)) > before
        const deleted = !(yield* rig.sandbox.credentials(rig.userId)).some((c) => c.id === id)
        if (invalidated) {
          assert.strictEqual(listed.some((c) => c.id === id), !deleted, "the fresh list is Tink's state")
        }
        return {
          result: outcome(exit),
          attempts: rig.attempts("DELETE", path),
          reached: yield* rig.sandbox.requestCount("DELETE", path),
          after: `cache ${invalidated ? "invalidated" : "kept"}, credential ${deleted ? "deleted" : "kept"} at Tink`
        } satisfies Outcome
      }
    }
  }).pipe(Effect.scoped)

const describeCause = (cause: import("effect/Cause").Cause<TinkError.TinkError>): string => {
  const failure = cause._tag === "Fail" ? cause.error : undefined
  return failure === undefined ? `defect: ${String(cause)}` : describeError(failure)
}

const readOk = (attempts: number): Outcome => ({ result: "ok", attempts, reached: attempts, after: "answer cached" })
const readFails = (result: string, attempts: number, reached = attempts): Outcome => ({
  result,
  attempts,
  reached,
  after: "nothing cached"
})
const created = (result: string, attempts: number, reached: number, users: number): Outcome => ({
  result,
  attempts,
  reached,
  after: `${users} user${users === 1 ? "" : "s"} created`
})
const deleted = (
  result: string,
  attempts: number,
  reached: number,
  cache: "invalidated" | "kept",
  tink: "deleted" | "kept"
): Outcome => ({ result, attempts, reached, after: `cache ${cache}, credential ${tink} at Tink` })

const maybeSent = "TinkNetworkError (may have reached Tink)"
const notSent = "TinkNetworkError (not sent)"

const matrix: ReadonlyArray<readonly [Fault, Record<Operation, Outcome>]> = [
  [{ name: "latency 50 ms (below the attempt timeout)", sandbox: { _tag: "Latency", millis: 50 } }, {
    read: readOk(1),
    createUser: created("ok", 1, 1, 1),
    deleteCredential: deleted("ok", 1, 1, "invalidated", "deleted")
  }],
  [{
    name: "latency 1.5 s, above the 1 s attempt timeout; Tink finishes the work anyway",
    sandbox: { _tag: "Latency", millis: 1500, finishWhenAbandoned: true },
    config: { requestTimeout: "1 second" },
    settleMillis: 1000
  }, {
    read: readFails("TinkTimeoutError", 3),
    createUser: created("TinkTimeoutError", 1, 1, 1),
    deleteCredential: deleted("TinkTimeoutError", 1, 1, "invalidated", "deleted")
  }],
  [{ name: "429 once, Retry-After: 1", sandbox: { _tag: "Status", status: 429, retryAfter: "1" }, times: 1 }, {
    read: readOk(2),
    createUser: created("ok", 2, 2, 1),
    deleteCredential: deleted("ok", 2, 2, "invalidated", "deleted")
  }],
  [{ name: "429 always, Retry-After: 1", sandbox: { _tag: "Status", status: 429, retryAfter: "1" } }, {
    read: readFails("TinkRateLimitError (retryAfter 1s)", 3),
    createUser: created("TinkRateLimitError (retryAfter 1s)", 3, 3, 0),
    deleteCredential: deleted("TinkRateLimitError (retryAfter 1s)", 3, 3, "kept", "kept")
  }],
  [{ name: "429 always, no Retry-After", sandbox: { _tag: "Status", status: 429 } }, {
    read: readFails("TinkRateLimitError (retryAfter none)", 3),
    createUser: created("TinkRateLimitError (retryAfter none)", 3, 3, 0),
    deleteCredential: deleted("TinkRateLimitError (retryAfter none)", 3, 3, "kept", "kept")
  }],
  ...[500, 502, 503, 504].map((status) =>
    [{ name: `${status} always`, sandbox: { _tag: "Status", status } }, {
      read: readFails(`TinkApiError ${status}`, 3),
      createUser: created(`TinkApiError ${status}`, 1, 1, 0),
      deleteCredential: deleted(`TinkApiError ${status}`, 1, 1, "invalidated", "kept")
    }] as const
  ),
  [{ name: "503 once", sandbox: { _tag: "Status", status: 503 }, times: 1 }, {
    read: readOk(2),
    createUser: created("TinkApiError 503", 1, 1, 0),
    deleteCredential: deleted("TinkApiError 503", 1, 1, "invalidated", "kept")
  }],
  [{ name: "HTML error page, 502", sandbox: { _tag: "Html", status: 502 } }, {
    read: readFails("TinkApiError 502 (no Tink message)", 3),
    createUser: created("TinkApiError 502 (no Tink message)", 1, 1, 0),
    deleteCredential: deleted("TinkApiError 502 (no Tink message)", 1, 1, "invalidated", "kept")
  }],
  [{ name: "connection refused (proxy down)", proxy: { _tag: "refuse" } }, {
    read: readFails(notSent, 3, 0),
    createUser: created(notSent, 3, 0, 0),
    deleteCredential: deleted(notSent, 3, 0, "kept", "kept")
  }],
  [{ name: "connection refused, then back", proxy: { _tag: "refuse" }, recovers: true }, {
    read: { result: "ok", attempts: 2, reached: 1, after: "answer cached" },
    createUser: created("ok", 2, 1, 1),
    deleteCredential: deleted("ok", 2, 1, "invalidated", "deleted")
  }],
  [{ name: "connection reset before the request reached Tink", proxy: { _tag: "resetBeforeRequest" } }, {
    read: readFails(maybeSent, 3, 0),
    createUser: created(maybeSent, 1, 0, 0),
    deleteCredential: deleted(maybeSent, 1, 0, "invalidated", "kept")
  }],
  [{ name: "connection reset after Tink processed the request", proxy: { _tag: "resetAfterRequest" } }, {
    read: readFails(maybeSent, 3),
    createUser: created(maybeSent, 1, 1, 1),
    deleteCredential: deleted(maybeSent, 1, 1, "invalidated", "deleted")
  }],
  [{ name: "sandbox drops the connection after processing", sandbox: { _tag: "Drop", afterProcessing: true } }, {
    read: readFails(maybeSent, 3),
    createUser: created(maybeSent, 1, 1, 1),
    deleteCredential: deleted(maybeSent, 1, 1, "invalidated", "deleted")
  }],
  [{ name: "sandbox drops the connection before processing", sandbox: { _tag: "Drop" } }, {
    read: readFails(maybeSent, 3),
    createUser: created(maybeSent, 1, 1, 0),
    deleteCredential: deleted(maybeSent, 1, 1, "invalidated", "kept")
  }],
  [{ name: "truncated body (Content-Length longer than sent, then close)", sandbox: { _tag: "Truncated" } }, {
    read: readFails(maybeSent, 3),
    createUser: created(maybeSent, 1, 1, 1),
    deleteCredential: deleted(maybeSent, 1, 1, "invalidated", "deleted")
  }],
  [{ name: "malformed JSON, 200", sandbox: { _tag: "MalformedJson" } }, {
    read: readFails("TinkDecodeError", 1),
    createUser: created("TinkDecodeError", 1, 1, 0),
    // A 2xx to a mutation without a response body is success whatever the body says.
    deleteCredential: deleted("ok", 1, 1, "invalidated", "kept")
  }],
  [{ name: "wrong shape, 200", sandbox: { _tag: "WrongShape" } }, {
    read: readFails("TinkDecodeError", 1),
    createUser: created("TinkDecodeError", 1, 1, 0),
    deleteCredential: deleted("ok", 1, 1, "invalidated", "kept")
  }],
  [{
    name: "10 MB body, 200",
    sandbox: { _tag: "LargeBody", bytes: 10 * 1024 * 1024 },
    config: { requestTimeout: "20 seconds" }
  }, {
    // Valid JSON without a credentials field reads as an empty list (the tolerant reader), and an
    // empty list proves no owner, so it is returned but not cached.
    read: { result: "ok", attempts: 1, reached: 1, after: "answer NOT cached" },
    createUser: created("TinkDecodeError", 1, 1, 0),
    deleteCredential: deleted("ok", 1, 1, "invalidated", "kept")
  }]
]

const table: Array<string> = []

describe.concurrent("fault matrix over real sockets", () => {
  for (const [fault, expected] of matrix) {
    for (const operation of ["read", "createUser", "deleteCredential"] as const) {
      it.live(`${fault.name}: ${operation}`, () =>
        Effect.gen(function*() {
          const actual = yield* runCase(fault, operation)
          table.push(
            `| ${fault.name} | ${operation} | ${actual.result} | ${actual.attempts} | ${actual.reached} | ${actual.after} |`
          )
          assert.deepStrictEqual(actual, expected[operation])
        }), 20_000)
    }
  }
})

afterAll(() => {
  const order = matrix.map(([fault]) => fault.name)
  const rank = (line: string) => order.findIndex((name) => line.startsWith(`| ${name} |`))
  console.log(
    [
      "| fault | operation | result | attempts | reached Tink | afterwards |",
      "|---|---|---|---|---|---|",
      ...table.sort((a, b) => rank(a) - rank(b))
    ].join("\n")
  )
})
