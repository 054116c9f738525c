/**
 * The sandbox against Tink's documented contract (`contract/tink/` at the repository root): every
 * answer has the documented keys, nulls where Tink sends null, the same JSON types, the documented
 * status codes and error body. Checked against Tink's examples, never against our client.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Sandbox } from "../src/index.js"
import { body, clientId, clientSecret, clientToken, form, postJson, provideSandbox, send } from "./utils.js"

const directory = fileURLToPath(new URL("../../../contract/tink/", import.meta.url))
const corpus = (file: string): any => JSON.parse(readFileSync(`${directory}${file}`, "utf8"))
const documented = (file: string, name: string): any => {
  const found = corpus(file).examples.find((example: { name: string }) => example.name === name)
  if (found === undefined) throw new Error(`${file}: no example ${name}`)
  return found.body
}
const statusesOf = (file: string): Array<number> =>
  corpus(file).response.statuses.map((entry: { status: number }) => entry.status)

type Kind = "null" | "string" | "number" | "boolean" | "array" | "object"
const kindOf = (value: unknown): Kind =>
  value === null ? "null" : Array.isArray(value) ? "array" : (typeof value as Kind)

/**
 * Where an answer's shape differs from a documented example: missing or extra keys, a null where
 * Tink sends a value or a value where Tink sends null, another JSON type. Objects are compared key
 * by key, arrays element by element against the documented first element. `maps` are paths whose
 * keys are data (e.g. a credential's `fields`); `nullable` are paths where Tink's field table
 * makes the value optional, so null is as good as the documented type.
 */
export const compareShape = (
  actual: unknown,
  expected: unknown,
  options: { readonly maps?: ReadonlyArray<string>; readonly nullable?: ReadonlyArray<string> } = {},
  path = "$"
): Array<string> => {
  const actualKind = kindOf(actual)
  const expectedKind = kindOf(expected)
  if (actualKind !== expectedKind) {
    return actualKind === "null" && options.nullable?.includes(path)
      ? []
      : [`${path}: ${actualKind} where Tink sends ${expectedKind}`]
  }
  if (actualKind === "array") {
    const [first] = expected as Array<unknown>
    return first === undefined
      ? []
      : Array.from(
        new Set((actual as Array<unknown>).flatMap((element) => compareShape(element, first, options, `${path}[]`)))
      )
  }
  if (actualKind !== "object") return []
  const actualObject = actual as Record<string, unknown>
  const expectedObject = expected as Record<string, unknown>
  if (options.maps?.includes(path)) {
    const [sample] = Object.values(expectedObject)
    return sample === undefined ?
      [] :
      Object.entries(actualObject).flatMap(([key, value]) => compareShape(value, sample, options, `${path}.${key}`))
  }
  const issues: Array<string> = []
  for (const key of Object.keys(expectedObject)) {
    if (!(key in actualObject)) issues.push(`${path}.${key}: missing (Tink sends it)`)
  }
  for (const key of Object.keys(actualObject)) {
    if (!(key in expectedObject)) issues.push(`${path}.${key}: not in Tink's example`)
    else issues.push(...compareShape(actualObject[key], expectedObject[key], options, `${path}.${key}`))
  }
  return issues
}

const assertShape = (actual: unknown, expected: unknown, options?: Parameters<typeof compareShape>[2]) =>
  assert.deepStrictEqual(compareShape(actual, expected, options), [])

/** Every error answer: Tink's body (RESTError: errorMessage, errorCode) and Tink's request id header. */
const assertTinkError = (response: { headers: Record<string, string> }, json: Record<string, unknown>) => {
  assert.deepStrictEqual(Object.keys(json).sort(), ["errorCode", "errorMessage"])
  assert.isString(json.errorCode)
  assert.isString(json.errorMessage)
  assert.isString(response.headers["x-request-id"])
  assert.isUndefined(response.headers["x-tink-request-id"])
}

const credentialOptions = {
  maps: ["$.fields", "$.credentials[].fields"],
  // Optional in the Credentials model; the sandbox has no such data for a seeded credential.
  nullable: ["$.statusPayload", "$.updated", "$.sessionExpiryDate"].flatMap((path) => [
    path,
    path.replace("$.", "$.credentials[].")
  ])
}

describe("sandbox vs Tink's documented contract", () => {
  it("the shape comparator finds what differs (and only that)", () => {
    const example = documented("oauth-token.json", "client-credentials-user-create")
    assert.deepStrictEqual(compareShape(example, example), [])
    const { id_hint: _, ...withoutIdHint } = example
    assert.deepStrictEqual(compareShape(withoutIdHint, example), ["$.id_hint: missing (Tink sends it)"])
    assert.deepStrictEqual(compareShape({ ...example, id_hint: "x" }, example), [
      "$.id_hint: string where Tink sends null"
    ])
    assert.deepStrictEqual(compareShape({ ...example, extra: 1 }, example), ["$.extra: not in Tink's example"])
  })

  it.effect("token answers: client_credentials and a plain grant carry \"id_hint\": null; a delegated grant a string", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const clientCredentials = yield* form("/api/v1/oauth/token", {
        grant_type: "client_credentials",
        client_id: clientId,
        client_secret: clientSecret,
        scope: "authorization:grant"
      })
      const example = documented("oauth-token.json", "client-credentials-authorization-grant")
      assertShape(yield* body(clientCredentials), example)

      const token = (yield* body(clientCredentials)).access_token
      const { userId } = yield* sandbox.createUser({})
      const exchange = (code: string) =>
        Effect.flatMap(
          form("/api/v1/oauth/token", {
            grant_type: "authorization_code",
            client_id: clientId,
            client_secret: clientSecret,
            code
          }),
          body
        )
      const plain = yield* Effect.flatMap(
        form("/api/v1/oauth/authorization-grant", { user_id: userId, scope: "user:read" }, token),
        body
      )
      assertShape(plain, documented("oauth-authorization-grant.json", "api-reference-response"))
      assertShape(yield* exchange(plain.code), example)

      const delegated = yield* Effect.flatMap(
        form("/api/v1/oauth/authorization-grant/delegate", {
          user_id: userId,
          id_hint: "John Doe",
          actor_client_id: "df05e4b379934cd09963197cc855bfe9",
          scope: "user:read"
        }, token),
        body
      )
      assertShape(delegated, documented("oauth-authorization-grant-delegate.json", "api-reference-response"))
      assertShape(yield* exchange(delegated.code), documented("oauth-token.json", "api-reference-response"))
    }).pipe(provideSandbox()))

  it.effect("user/create: with an external id as the API reference, without one as the permanent-users guide", () =>
    Effect.gen(function*() {
      const token = yield* clientToken("user:create")
      const withId = yield* postJson("/api/v1/user/create", { external_user_id: "user_123_abc", market: "SE" }, token)
      assertShape(yield* body(withId), documented("user-create.json", "api-reference-response"))
      const without = yield* postJson("/api/v1/user/create", { locale: "en_US", market: "SE" }, token)
      assertShape(yield* body(without), documented("user-create.json", "permanent-users-response"))
      const duplicate = yield* postJson(
        "/api/v1/user/create",
        { external_user_id: "user_123_abc", market: "SE" },
        token
      )
      const invalid = yield* postJson("/api/v1/user/create", { market: "Sweden" }, token)
      for (const response of [withId, duplicate, invalid]) {
        assert.include(statusesOf("user-create.json"), response.status)
      }
      assertTinkError(duplicate, yield* body(duplicate))
      assertTinkError(invalid, yield* body(invalid))
    }).pipe(provideSandbox()))

  it.effect("credentials: list and get match the API reference's Credentials, supplementalInformation included", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { userId } = yield* sandbox.createUser({})
      const token = yield* sandbox.issueUserToken(userId, ["credentials:read"])
      const updated = yield* sandbox.addCredential(userId, { type: "MOBILE_BANKID", fields: { username: "1" } })
      const waiting = yield* sandbox.addCredential(userId, { status: "AWAITING_SUPPLEMENTAL_INFORMATION" })
      const app = yield* sandbox.addCredential(userId, { status: "AWAITING_THIRD_PARTY_APP_AUTHENTICATION" })

      const list = yield* body(yield* send("GET", "/api/v1/credentials/list", token))
      assertShape(
        { credentials: [list.credentials[0]] },
        documented("credentials-list.json", "api-reference-response"),
        credentialOptions
      )
      const reference = documented("credentials-get.json", "api-reference-response")
      assertShape(
        yield* body(yield* send("GET", `/api/v1/credentials/${updated.id}`, token)),
        reference,
        credentialOptions
      )
      // Waiting on the user: the same keys, supplementalInformation a string as in the guide's example.
      const guide = documented("credentials-get.json", "credentials-guide-opt-in-awaiting")
      for (const id of [waiting.id, app.id]) {
        const served = yield* body(yield* send("GET", `/api/v1/credentials/${id}`, token))
        assertShape(served, { ...reference, supplementalInformation: guide.supplementalInformation }, credentialOptions)
      }
    }).pipe(provideSandbox()))

  it.effect("statuses: the documented ones, with Tink's error body; 204s have no body", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { userId } = yield* sandbox.createUser({})
      const all = ["credentials:read", "credentials:write", "credentials:refresh", "user:delete"]
      const token = yield* sandbox.issueUserToken(userId, all)
      const credential = yield* sandbox.addCredential(userId)
      const unknown = "0123456789abcdef0123456789abcdef"

      const expectStatus = (file: string, response: { readonly status: number }) =>
        assert.include(statusesOf(file), response.status, file)
      const refresh = yield* send("POST", `/api/v1/credentials/${credential.id}/refresh`, token)
      expectStatus("credentials-refresh.json", refresh)
      assert.strictEqual(yield* refresh.text, "")
      const missingRefresh = yield* send("POST", `/api/v1/credentials/${unknown}/refresh`, token)
      expectStatus("credentials-refresh.json", missingRefresh)
      assertTinkError(missingRefresh, yield* body(missingRefresh))
      const missingGet = yield* send("GET", `/api/v1/credentials/${unknown}`, token)
      expectStatus("credentials-get.json", missingGet)
      assertTinkError(missingGet, yield* body(missingGet))
      const removed = yield* send("DELETE", `/api/v1/credentials/${credential.id}`, token)
      expectStatus("credentials-delete.json", removed)
      assert.strictEqual(yield* removed.text, "")
      const missingDelete = yield* send("DELETE", `/api/v1/credentials/${credential.id}`, token)
      expectStatus("credentials-delete.json", missingDelete)

      const grantToken = yield* clientToken("authorization:grant")
      const noUser = yield* form("/api/v1/oauth/authorization-grant/delegate", {
        user_id: unknown,
        id_hint: "Jo",
        actor_client_id: "x",
        scope: "user:read"
      }, grantToken)
      expectStatus("oauth-authorization-grant-delegate.json", noUser)
      assert.strictEqual(noUser.status, 404)
      const badRequest = yield* form("/api/v1/oauth/authorization-grant/delegate", {
        user_id: userId,
        scope: "user:read"
      }, grantToken)
      expectStatus("oauth-authorization-grant-delegate.json", badRequest)
      assertTinkError(badRequest, yield* body(badRequest))

      const deleted = yield* send("POST", "/api/v1/user/delete", token)
      expectStatus("user-delete.json", deleted)
      assert.strictEqual(yield* deleted.text, "")
    }).pipe(provideSandbox()))

  it.effect("auth failures: 401 without a valid token, 403 for a missing scope, 401 for it on the grant endpoints", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { userId } = yield* sandbox.createUser({})
      const reader = yield* sandbox.issueUserToken(userId, ["credentials:read"])
      const noToken = yield* send("GET", "/api/v1/credentials/list")
      assert.strictEqual(noToken.status, 401)
      assertTinkError(noToken, yield* body(noToken))
      const noScope = yield* send("POST", "/api/v1/user/delete", reader)
      assert.strictEqual(noScope.status, 403)
      assertTinkError(noScope, yield* body(noScope))
      const wrongScope = yield* clientToken("user:create")
      for (const file of ["oauth-authorization-grant-delegate.json"]) {
        const response = yield* form(corpus(file).path, {
          user_id: userId,
          id_hint: "Jo",
          actor_client_id: "x",
          scope: "user:read"
        }, wrongScope)
        assert.strictEqual(response.status, 401)
        assert.include(statusesOf(file), response.status)
        assertTinkError(response, yield* body(response))
      }
    }).pipe(provideSandbox()))
})
