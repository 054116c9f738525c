import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import type { Service } from "../Sandbox.js"
import { decodeBody, FaultRules, NewCredential, NewToken, NewUser, scopeList, toRule } from "./controlInput.js"
import { ApiFailure, fail, notFound } from "./failure.js"
import * as Incoming from "./incoming.js"

/**
 * The control endpoints: the sandbox's seeding, fault and counter functions over HTTP, so a
 * process in any language can drive a served sandbox. They live under a prefix Tink never uses,
 * answer before the fake Tink sees the request, and so are neither recorded nor counted nor
 * faulted.
 */

/** @internal */
export const prefix = "/__sandbox"

/** @internal Whether a request target (path and query) is a control path. */
export const isControlTarget = (url: string): boolean => {
  const path = url.split("?", 1)[0]!
  return path === prefix || path.startsWith(`${prefix}/`)
}

const json = (body: unknown, status = 200) => HttpServerResponse.unsafeJson(body, { status })

const requireUser = (sandbox: Service, userId: string): Effect.Effect<void, ApiFailure> =>
  Effect.flatMap(
    sandbox.userExists(userId),
    (exists) => exists ? Effect.void : Effect.fail(fail(404, "USER_NOT_FOUND", `No user ${userId}`))
  )

type ControlHandler = (
  sandbox: Service,
  incoming: Incoming.Incoming,
  id: string
) => Effect.Effect<HttpServerResponse.HttpServerResponse, ApiFailure>

interface ControlRoute {
  /** Segments after the prefix; ":id" captures one. */
  readonly segments: ReadonlyArray<string>
  readonly methods: Readonly<Record<string, ControlHandler>>
}

const routes: ReadonlyArray<ControlRoute> = [
  {
    segments: ["users"],
    methods: {
      POST: (sandbox, incoming) =>
        Effect.gen(function*() {
          const input = yield* decodeBody(incoming, NewUser, {})
          // The seeding function dies on a taken external id (a broken test); over HTTP it is a 409.
          const created = yield* sandbox.createUser(input).pipe(
            Effect.catchAllDefect(() =>
              Effect.fail(fail(409, "USER_EXISTS", `The external user id ${input.externalUserId} is taken`))
            )
          )
          return json(created, 201)
        })
    }
  },
  {
    segments: ["users", ":id", "credentials"],
    methods: {
      GET: (sandbox, _incoming, userId) =>
        Effect.zipRight(requireUser(sandbox, userId), Effect.map(sandbox.credentials(userId), (list) => json(list)))
    }
  },
  {
    segments: ["credentials"],
    methods: {
      POST: (sandbox, incoming) =>
        Effect.gen(function*() {
          const { userId, ...input } = yield* decodeBody(incoming, NewCredential)
          yield* requireUser(sandbox, userId)
          return json(yield* sandbox.addCredential(userId, input), 201)
        })
    }
  },
  {
    segments: ["tokens"],
    methods: {
      POST: (sandbox, incoming) =>
        Effect.gen(function*() {
          const input = yield* decodeBody(incoming, NewToken)
          yield* requireUser(sandbox, input.userId)
          const scopes = scopeList(input.scopes)
          const accessToken = yield* sandbox.issueUserToken(input.userId, scopes)
          return json({ accessToken, tokenType: "bearer", userId: input.userId, scopes }, 201)
        })
    }
  },
  {
    segments: ["faults"],
    methods: {
      PUT: (sandbox, incoming) =>
        Effect.gen(function*() {
          const rules = yield* Effect.forEach(yield* decodeBody(incoming, FaultRules), toRule)
          yield* sandbox.setFaults(rules)
          return HttpServerResponse.empty({ status: 204 })
        }),
      DELETE: (sandbox) => Effect.as(sandbox.clearFaults, HttpServerResponse.empty({ status: 204 }))
    }
  },
  {
    segments: ["stats"],
    methods: {
      GET: (sandbox, incoming) =>
        Effect.gen(function*() {
          const path = incoming.search.get("path")
          const method = incoming.search.get("method")?.toUpperCase() ?? "GET"
          return json({
            totalRequests: yield* sandbox.totalRequests,
            usersCreated: yield* sandbox.usersCreated,
            faultsInjected: yield* sandbox.faultsInjected,
            ...(path === null ? {} : { requestCount: yield* sandbox.requestCount(method, path) })
          })
        }),
      DELETE: (sandbox) => Effect.as(sandbox.resetCounters, HttpServerResponse.empty({ status: 204 }))
    }
  }
]

const match = (path: string): { readonly route: ControlRoute; readonly id: string } | undefined => {
  const parts = path.slice(prefix.length + 1).split("/")
  for (const route of routes) {
    if (route.segments.length !== parts.length) continue
    let id = ""
    const matched = route.segments.every((segment, i) => {
      const part = parts[i]!
      if (segment !== ":id") return segment === part
      try {
        id = decodeURIComponent(part)
      } catch {
        return false
      }
      return id !== ""
    })
    if (matched) return { route, id }
  }
  return undefined
}

const answer = (sandbox: Service, incoming: Incoming.Incoming) => {
  const found = match(incoming.path)
  if (found === undefined) return Effect.fail(notFound(`No control endpoint ${incoming.path}`))
  const handler = found.route.methods[incoming.method]
  if (handler === undefined) {
    return Effect.fail(
      new ApiFailure({
        status: 405,
        errorCode: "METHOD_NOT_ALLOWED",
        errorMessage: `${incoming.method} is not allowed on ${incoming.path}`,
        headers: { allow: Object.keys(found.route.methods).join(", ") }
      })
    )
  }
  return handler(sandbox, incoming, found.id)
}

/**
 * @internal
 * The sandbox's app with the control endpoints in front of it. Errors use Tink's body shape
 * (`errorCode`, `errorMessage`), so one error reader serves both.
 */
export const withControl = (sandbox: Service): HttpApp.Default =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    if (!isControlTarget(request.url)) return sandbox.app
    return Effect.flatMap(Incoming.read, (incoming) =>
      answer(sandbox, incoming).pipe(
        Effect.catchAll((failure: ApiFailure) =>
          Effect.succeed(HttpServerResponse.unsafeJson(
            { errorCode: failure.errorCode, errorMessage: failure.errorMessage },
            { status: failure.status, headers: failure.headers ?? {} }
          ))
        )
      ))
  })
