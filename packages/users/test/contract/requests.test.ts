/**
 * Direction 2 of the contract: every request our operations build has the documented method,
 * path, content type, field names and auth. The real operations run against the sandbox; its
 * recorder gives the requests exactly as they reached "Tink".
 */
import { assert, describe, it } from "@effect/vitest"
import { Sandbox } from "@tink-effect/sandbox"
import { Users } from "@tink-effect/users"
import { Effect } from "effect"
import { as, seedUser, testLayer } from "../utils.js"
import { type Endpoint, endpoints } from "./corpus.js"

const matchesTemplate = (template: string, path: string) =>
  new RegExp(`^${template.replace("{id}", "[^/]+")}$`).test(path)

/** The documented endpoint of a recorded request, checked field by field against the corpus. */
const check = (request: Sandbox.RecordedRequest): Endpoint => {
  // A literal path first: GET /credentials/list is not the credential "list".
  const documented = endpoints.find((entry) => entry.method === request.method && entry.path === request.path) ??
    endpoints.find((entry) => entry.method === request.method && matchesTemplate(entry.path, request.path))
  assert.isDefined(documented, `${request.method} ${request.path} is not a documented endpoint`)
  const entry = documented!
  const where = `${request.method} ${request.path}`
  const documentedType = entry.request.contentType
  if (documentedType === null) {
    assert.strictEqual(request.body, "", `${where}: Tink documents no body`)
  } else if (request.body !== "" || entry.request.optionalBody !== true) {
    assert.strictEqual(request.contentType, documentedType, `${where}: content type`)
    const names = documentedType === "application/json"
      ? Object.keys(JSON.parse(request.body))
      : Array.from(new URLSearchParams(request.body).keys())
    const known = entry.request.fields.map((field) => field.name)
    for (const name of names) assert.include(known, name, `${where}: field ${name} is not documented`)
    for (const field of entry.request.fields) {
      if (field.required === true) assert.include(names, field.name, `${where}: required field ${field.name}`)
    }
  }
  const queryNames = (entry.request.query ?? []).map((field) => field.name)
  for (const [name, value] of request.query) {
    assert.include(queryNames, name, `${where}: query ${name} is not documented`)
    const values = entry.request.query?.find((field) => field.name === name)?.values
    if (values !== undefined) assert.include(values, value, `${where}: ${name}=${value}`)
  }
  const bearer = request.headers["authorization"]
  if (entry.auth.token === "none") assert.isUndefined(bearer, `${where}: Tink takes no token here`)
  else assert.match(bearer ?? "", /^Bearer \S+$/, `${where}: bearer token`)
  return entry
}

describe("contract: requests match the documented ones", () => {
  it.effect("every operation's requests: method, path, content type, field names, auth", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const created = yield* Users.createUser({
        market: "SE",
        locale: "en_US",
        externalUserId: "user_123_abc",
        retentionClass: "permanent"
      })
      yield* Users.createAuthorization({ externalUserId: "user_123_abc", scope: "credentials:read" })
      yield* Users.createAuthorization({
        userId: created.userId,
        scope: "credentials:read",
        idHint: "John Doe",
        actorClientId: "df05e4b379934cd09963197cc855bfe9"
      })
      const grant = yield* Users.createAuthorization({ userId: created.userId, scope: "credentials:read" })
      yield* Users.getUserAccessToken(grant.code)
      const user = yield* seedUser(2)
      const [first, second] = user.credentials
      yield* as(user)(Users.listCredentials())
      yield* as(user)(Users.getCredential(first!.id))
      yield* as(user)(Users.refreshCredential(first!.id, {
        items: ["CHECKING_ACCOUNTS", "CHECKING_TRANSACTIONS"],
        optIn: false,
        authenticate: true,
        appUri: "https://example.com/back"
      }))
      yield* as(user)(Users.refreshCredential(second!.id))
      yield* as(user)(Users.deleteCredential(second!.id))
      yield* as(user)(Users.deleteUser(user.userId))
      yield* Users.deleteUser(created.userId)

      const seen = new Set<string>()
      for (const request of yield* sandbox.requests) seen.add(check(request).endpoint)
      // Every endpoint of the corpus was exercised.
      assert.deepStrictEqual(Array.from(seen).sort(), endpoints.map((entry) => entry.endpoint).sort())
    }).pipe(Effect.provide(testLayer())))

  it.effect("the token endpoint gets client_credentials and authorization_code as documented", () =>
    Effect.gen(function*() {
      const sandbox = yield* Sandbox.Sandbox
      const { userId } = yield* Users.createUser({ market: "SE" })
      const grant = yield* Users.createAuthorization({ userId, scope: "user:read" })
      yield* Users.getUserAccessToken(grant.code)
      const forms = (yield* sandbox.requests)
        .filter((request) => request.path === "/api/v1/oauth/token")
        .map((request) => new URLSearchParams(request.body))
      const byGrant = (grant: string) => forms.filter((form) => form.get("grant_type") === grant)
      for (const form of byGrant("client_credentials")) {
        assert.deepStrictEqual(Array.from(form.keys()).sort(), ["client_id", "client_secret", "grant_type", "scope"])
      }
      const [exchange] = byGrant("authorization_code")
      assert.deepStrictEqual(Array.from(exchange!.keys()).sort(), ["client_id", "client_secret", "code", "grant_type"])
    }).pipe(Effect.provide(testLayer())))
})
