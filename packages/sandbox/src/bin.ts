#!/usr/bin/env node
/**
 * `tink-sandbox`: the sandbox as a standalone process, for apps and tests in any language. It
 * serves the fake Tink and the control endpoints (`/__sandbox/...`) on 127.0.0.1, prints where and
 * with which client credentials, and runs until stopped (Ctrl-C, SIGTERM).
 *
 *   npx tink-sandbox --port 4010
 *
 * @since 0.2.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { parseArgs } from "node:util"
import * as Sandbox from "./Sandbox.js"
import * as SandboxServer from "./SandboxServer.js"

const usage = `\
Usage: tink-sandbox [--port <port>] [--host <host>] [--client-id <id>] [--client-secret <secret>]

Serves a Tink-compatible fake API with in-memory state until stopped.

  --port           port to listen on; 0 picks a free one (default 4010)
  --host           address to bind (default 127.0.0.1; the sandbox has no real security)
  --client-id      the OAuth client id it accepts (default sandbox-client)
  --client-secret  the OAuth client secret it accepts (default sandbox-secret)

Seed it over HTTP: POST /__sandbox/users, /__sandbox/credentials, /__sandbox/tokens;
PUT /__sandbox/faults; GET /__sandbox/stats (see the @tink-effect/sandbox README).`

interface Args {
  readonly port: number
  readonly host: string
  readonly clientId: string
  readonly clientSecret: string
}

/** The arguments, or the message to print before exiting with status 2. */
const parse = (argv: ReadonlyArray<string>): Args | { readonly help: true } | { readonly error: string } => {
  let values
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        port: { type: "string", default: "4010" },
        host: { type: "string", default: "127.0.0.1" },
        "client-id": { type: "string", default: "sandbox-client" },
        "client-secret": { type: "string", default: "sandbox-secret" },
        help: { type: "boolean", short: "h", default: false }
      },
      strict: true,
      allowPositionals: false
    }).values
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) }
  }
  if (values.help) return { help: true }
  const port = Number(values.port)
  if (!/^\d+$/.test(values.port) || port > 65535) return { error: `--port must be 0 to 65535, got ${values.port}` }
  if (values["client-id"] === "" || values["client-secret"] === "") {
    return { error: "--client-id and --client-secret must not be empty" }
  }
  return { port, host: values.host, clientId: values["client-id"], clientSecret: values["client-secret"] }
}

/** The system's reason (e.g. `listen EADDRINUSE ...`), which the server error wraps as its cause. */
const reason = (defect: unknown): string => {
  const cause = typeof defect === "object" && defect !== null && "cause" in defect ? defect.cause : defect
  return cause instanceof Error ? cause.message : String(cause)
}

const serve = (args: Args) =>
  Effect.gen(function*() {
    const server = yield* SandboxServer.SandboxServer
    // The first line carries the URL, for scripts that wait for it.
    yield* Console.log(`tink-sandbox listening on ${server.url}`)
    yield* Console.log(`client id:     ${args.clientId}`)
    yield* Console.log(`client secret: ${args.clientSecret}`)
    yield* Console.log(`control:       ${server.url}${SandboxServer.controlPrefix}/`)
    return yield* Effect.never
  }).pipe(
    Effect.provide(SandboxServer.layer({
      port: args.port,
      host: args.host,
      sandbox: {
        clients: [{ clientId: args.clientId, clientSecret: args.clientSecret, scopes: Sandbox.allScopes }]
      }
    })),
    // The server layer dies when it cannot listen (port taken, bad host): say so in one line.
    Effect.catchAllDefect((defect) =>
      Effect.zipRight(
        Console.error(`tink-sandbox: cannot listen on ${args.host}:${args.port}: ${reason(defect)}`),
        Effect.sync(() => {
          process.exitCode = 1
        })
      )
    )
  )

const args = parse(process.argv.slice(2))
if ("help" in args) {
  console.log(usage)
} else if ("error" in args) {
  console.error(`tink-sandbox: ${args.error}\n\n${usage}`)
  process.exitCode = 2
} else {
  NodeRuntime.runMain(serve(args), { disablePrettyLogger: true })
}
