import { HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Effect } from "effect"
import { Sandbox } from "../src/index.js"

/** Any host works: the sandbox routes on the path only. */
export const base = "http://sandbox.test"

export const clientId = "sandbox-client"
export const clientSecret = "sandbox-secret"

/** Each test gets its own sandbox, so tests running concurrently never share state. */
export const provideSandbox = (options?: Sandbox.SandboxOptions) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provide(effect, Sandbox.layerTest(options))

export const form = (path: string, params: Record<string, string>, token?: string) =>
  HttpClient.execute(
    HttpClientRequest.post(`${base}${path}`).pipe(
      HttpClientRequest.bodyUrlParams(params),
      token === undefined ? (request) => request : HttpClientRequest.bearerToken(token)
    )
  )

export const postJson = (path: string, body: unknown, token?: string) =>
  HttpClient.execute(
    HttpClientRequest.post(`${base}${path}`).pipe(
      HttpClientRequest.bodyUnsafeJson(body),
      token === undefined ? (request) => request : HttpClientRequest.bearerToken(token)
    )
  )

export const send = (method: "GET" | "POST" | "DELETE", path: string, token?: string) =>
  HttpClient.execute(
    HttpClientRequest.make(method)(`${base}${path}`).pipe(
      token === undefined ? (request) => request : HttpClientRequest.bearerToken(token)
    )
  )

export const body = (response: HttpClientResponse.HttpClientResponse) =>
  Effect.map(response.json, (json) => json as Record<string, any>)

export const clientToken = (scope?: string) =>
  Effect.flatMap(
    form("/api/v1/oauth/token", {
      grant_type: "client_credentials",
      client_id: clientId,
      client_secret: clientSecret,
      ...(scope === undefined ? {} : { scope })
    }),
    body
  ).pipe(Effect.map((json) => json.access_token as string))

export const createUser = (token: string, externalUserId?: string) =>
  Effect.flatMap(
    postJson("/api/v1/user/create", {
      market: "SE",
      ...(externalUserId === undefined ? {} : { external_user_id: externalUserId })
    }, token),
    body
  ).pipe(Effect.map((json) => json.user_id as string))

export const grantCode = (token: string, userId: string, scope: string) =>
  Effect.flatMap(form("/api/v1/oauth/authorization-grant", { user_id: userId, scope }, token), body).pipe(
    Effect.map((json) => json.code as string)
  )

export const exchange = (code: string) =>
  form("/api/v1/oauth/token", {
    grant_type: "authorization_code",
    client_id: clientId,
    client_secret: clientSecret,
    code
  })

/** A user token obtained the way a client does it: grant, then code exchange. */
export const userToken = (userId: string, scope: string) =>
  Effect.gen(function*() {
    const token = yield* clientToken("authorization:grant")
    const code = yield* grantCode(token, userId, scope)
    const json = yield* Effect.flatMap(exchange(code), body)
    return json.access_token as string
  })
