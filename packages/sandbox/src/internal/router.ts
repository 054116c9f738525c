import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import type { Ctx, Handler } from "./context.js"
import * as Credentials from "./credentials.js"
import { type ApiFailure, ApiFailure as Failure, notFound } from "./failure.js"
import * as OAuth from "./oauth.js"
import * as Users from "./users.js"

interface Route {
  /** Path segments after /api/v1; ":id" captures one segment. */
  readonly segments: ReadonlyArray<string>
  readonly methods: Readonly<Record<string, Handler>>
}

// Order matters: literal routes come before the ":id" ones they would otherwise match
// (GET /credentials/list is not the credential "list").
const routes: ReadonlyArray<Route> = [
  { segments: ["oauth", "token"], methods: { POST: OAuth.token } },
  { segments: ["oauth", "authorization-grant"], methods: { POST: OAuth.authorizationGrant } },
  { segments: ["oauth", "authorization-grant", "delegate"], methods: { POST: OAuth.delegateGrant } },
  { segments: ["user", "create"], methods: { POST: Users.create } },
  { segments: ["user", "delete"], methods: { POST: Users.remove } },
  { segments: ["credentials", "list"], methods: { GET: Credentials.list } },
  { segments: ["credentials", ":id"], methods: { GET: Credentials.get, DELETE: Credentials.remove } },
  { segments: ["credentials", ":id", "refresh"], methods: { POST: Credentials.refresh } }
]

const prefix = "/api/v1/"

interface Match {
  readonly route: Route
  readonly id: string
}

const match = (path: string): Match | undefined => {
  if (!path.startsWith(prefix)) return undefined
  const parts = path.slice(prefix.length).split("/")
  for (const route of routes) {
    if (route.segments.length !== parts.length) continue
    let id = ""
    let matched = true
    for (let i = 0; i < parts.length && matched; i++) {
      const expected = route.segments[i]!
      const part = parts[i]!
      if (expected === ":id") {
        const decoded = decodeSegment(part)
        if (decoded === undefined || decoded === "") matched = false
        else id = decoded
      } else {
        matched = expected === part
      }
    }
    if (matched) return { route, id }
  }
  return undefined
}

const decodeSegment = (segment: string): string | undefined => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined
  }
}

/** @internal Dispatches on the path only (any host); unknown paths 404, known paths with another method 405. */
export const route = (ctx: Omit<Ctx, "id">): Effect.Effect<HttpServerResponse.HttpServerResponse, ApiFailure> => {
  const found = match(ctx.incoming.path)
  if (found === undefined) return Effect.fail(notFound(`No route for ${ctx.incoming.path}`))
  const handler = found.route.methods[ctx.incoming.method]
  if (handler === undefined) {
    return Effect.fail(
      new Failure({
        status: 405,
        errorCode: "METHOD_NOT_ALLOWED",
        errorMessage: `${ctx.incoming.method} is not allowed on ${ctx.incoming.path}`,
        headers: { allow: Object.keys(found.route.methods).join(", ") }
      })
    )
  }
  return handler({ ...ctx, id: found.id })
}
