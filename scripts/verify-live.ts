/**
 * `npm run verify:live`: every Users operation against Tink itself, with the app's own
 * credentials, and a table of what passed, failed or was skipped.
 *
 *   TINK_CLIENT_ID, TINK_CLIENT_SECRET   the app (both unset: nothing is checked, exit 0)
 *   TINK_BASE_URL                        default https://api.tink.com
 *   TINK_VERIFY_MARKET                   the market of the user it creates, default SE
 *   TINK_REDIS_URL                       optional, as for `npm start`
 *
 * It creates a temporary user (Tink deletes it after 24 hours should `deleteUser` fail), takes it
 * through grant, token exchange and its credentials, and deletes it. A new user has no bank
 * credential until one is connected in Tink Link, so against real Tink the credential steps
 * report "skipped: no credential": they were not checked. Exit code 1 when anything failed.
 * It is not part of `npm test` and never counts as a pass there.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { TinkError } from "@tink-effect/core"
import { NodeTink } from "@tink-effect/platform-node"
import { Users } from "@tink-effect/users"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"

type Result = "passed" | "failed" | "skipped"

interface Row {
  readonly operation: string
  readonly result: Result
  readonly detail: string
}

/** Ends the run with exit code 1 once the table is printed; it carries nothing to report. */
class Failed extends Data.TaggedError("Failed") {}

const scope = "credentials:read,credentials:write,credentials:refresh"

/** The tag and message of a failure: what a reader needs to tell a bad secret from a Tink outage. */
const explain = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (TinkError.isTinkError(error)) return `${error._tag}: ${error.message}`
    if (error instanceof Error) return `${error.name}: ${error.message}`
    return String(error)
  }
  return Cause.pretty(cause).split("\n")[0] ?? "unknown failure"
}

const format = (row: Row): string => `${row.operation.padEnd(20)} ${row.result.padEnd(8)} ${row.detail}`.trimEnd()

const live = (market: string) =>
  Effect.gen(function*() {
    const rows: Array<Row> = []
    const record = (row: Row) => Effect.zipRight(Effect.sync(() => rows.push(row)), Console.log(format(row)))
    const skip = (operation: string, reason: string) =>
      Effect.as(record({ operation, result: "skipped", detail: `skipped: ${reason}` }), Option.none<never>())
    const check = <A, E, R>(operation: string, effect: Effect.Effect<A, E, R>, detail: (a: A) => string) =>
      Effect.flatMap(Effect.exit(effect), (exit) =>
        Exit.isSuccess(exit)
          ? Effect.as(record({ operation, result: "passed", detail: detail(exit.value) }), Option.some(exit.value))
          : Effect.as(record({ operation, result: "failed", detail: explain(exit.cause) }), Option.none<A>()))

    yield* Console.log(`${"operation".padEnd(20)} ${"result".padEnd(8)} detail`)
    const user = yield* check(
      "createUser",
      Users.createUser({ market, retentionClass: "temporary" }),
      () => `a temporary user in ${market}`
    )
    if (Option.isSome(user)) {
      const userId = user.value.userId
      const grant = yield* check(
        "createAuthorization",
        Users.createAuthorization({ userId, scope }),
        () => `code for ${scope}`
      )
      const token = Option.isSome(grant)
        ? yield* check(
          "getUserAccessToken",
          Users.getUserAccessToken(grant.value.code),
          (t) => `${t.tokenType} token, expires in ${t.expiresIn} s${t.scope === undefined ? "" : `, scope ${t.scope}`}`
        )
        : yield* skip("getUserAccessToken", "no authorization code")
      if (Option.isSome(token)) {
        const asUser = Users.asUser({ userId, accessToken: token.value.accessToken })
        const list = yield* check(
          "listCredentials",
          asUser(Users.listCredentials()),
          (credentials) => `${credentials.length} credential(s)`
        )
        const first = Option.flatMap(list, (credentials) => Option.fromNullable(credentials[0]))
        if (Option.isSome(first)) {
          const id = first.value.id
          yield* check("getCredential", asUser(Users.getCredential(id)), (c) => `${c.id}, ${c.status ?? "no status"}`)
          yield* check("refreshCredential", asUser(Users.refreshCredential(id)), () => "refresh started")
          yield* check("deleteCredential", asUser(Users.deleteCredential(id)), () => "deleted")
        } else {
          const reason = Option.isNone(list)
            ? "listCredentials failed"
            : "no credential (a new user has none until a bank is connected in Tink Link)"
          for (const operation of ["getCredential", "refreshCredential", "deleteCredential"]) {
            yield* skip(operation, reason)
          }
        }
      } else {
        for (const operation of ["listCredentials", "getCredential", "refreshCredential", "deleteCredential"]) {
          yield* skip(operation, "no user token")
        }
      }
      // Without a session in context: the app's own grant + exchange for user:delete.
      yield* check("deleteUser", Users.deleteUser(userId), () => "deleted (grant + exchange for user:delete)")
    } else {
      const operations = [
        "createAuthorization",
        "getUserAccessToken",
        "listCredentials",
        "getCredential",
        "refreshCredential",
        "deleteCredential",
        "deleteUser"
      ]
      for (const operation of operations) yield* skip(operation, "no user")
    }
    const count = (result: Result) => rows.filter((row) => row.result === result).length
    const summary = `${count("passed")} passed, ${count("failed")} failed, ${count("skipped")} skipped`
    if (count("failed") > 0) {
      yield* Console.log(`FAILED: ${summary}`)
      return yield* new Failed()
    }
    yield* Console.log(`PASSED: ${summary}${count("skipped") > 0 ? " (skipped operations were not checked)" : ""}`)
  })

const program = Effect.gen(function*() {
  const clientId = yield* Config.option(Config.nonEmptyString("TINK_CLIENT_ID"))
  const clientSecret = yield* Config.option(Config.nonEmptyString("TINK_CLIENT_SECRET"))
  if (Option.isNone(clientId) && Option.isNone(clientSecret)) {
    yield* Console.log(
      "SKIPPED: no credentials, nothing was checked (set TINK_CLIENT_ID and TINK_CLIENT_SECRET to check against Tink)"
    )
    return
  }
  if (Option.isNone(clientId) || Option.isNone(clientSecret)) {
    const missing = Option.isNone(clientId) ? "TINK_CLIENT_ID" : "TINK_CLIENT_SECRET"
    yield* Console.log(
      `FAILED: ${missing} is not set, nothing was checked (set both TINK_CLIENT_ID and TINK_CLIENT_SECRET)`
    )
    return yield* new Failed()
  }
  const baseUrl = yield* Config.string("TINK_BASE_URL").pipe(Config.withDefault("https://api.tink.com"))
  const market = yield* Config.string("TINK_VERIFY_MARKET").pipe(Config.withDefault("SE"))
  yield* Console.log(`tink-effect live check against ${baseUrl}`)
  yield* live(market).pipe(Effect.provide(NodeTink.layerEnv))
}).pipe(
  Effect.catchAllCause((cause) =>
    Option.exists(Cause.failureOption(cause), (error) => error instanceof Failed)
      ? Effect.failCause(cause)
      : Effect.zipRight(Console.log(`FAILED: ${explain(cause)}`), new Failed())
  )
)

// The table says what failed; the exit code is all that is left to report.
NodeRuntime.runMain(program, { disableErrorReporting: true })
