/**
 * Reads the documented-contract corpus (`contract/tink/*.json` at the repository root): Tink's
 * documented examples and field tables, each with its source. Data only; see its README.
 */
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

/** Where a fixture comes from: a docs page and section, or a file of one of Tink's SDKs. */
export type Source =
  | { readonly title: string; readonly url: string; readonly section: string; readonly via: string }
  | { readonly repo: string; readonly path: string; readonly commit: string; readonly note?: string }

export interface Field {
  readonly name: string
  readonly type?: string
  readonly required?: boolean
  readonly values?: ReadonlyArray<string>
}

export interface Example {
  readonly name: string
  readonly kind: "request" | "response" | "fieldTable" | "invalidExample"
  readonly status?: number
  readonly source: Source
  readonly body?: unknown
  readonly fields?: ReadonlyArray<string | Field>
  readonly contentType?: string
  /** `{NAME}` strings in the body are the page's template placeholders, not values. */
  readonly templatePlaceholders?: boolean
  /** `noId`: an abbreviated example without an id (see ASSUMPTIONS.md). */
  readonly expect?: "noId"
}

export interface Endpoint {
  readonly file: string
  readonly endpoint: string
  readonly method: string
  readonly path: string
  readonly auth: { readonly token: "none" | "client" | "user"; readonly scope?: string }
  readonly request: {
    readonly contentType: string | null
    readonly fields: ReadonlyArray<Field>
    readonly query?: ReadonlyArray<Field & { readonly repeatable?: boolean }>
    readonly optionalBody?: boolean
  }
  readonly response: {
    readonly contentType: string | null
    readonly fields: ReadonlyArray<Field>
    readonly statuses: ReadonlyArray<{ readonly status: number; readonly description: string }>
  }
  readonly examples: ReadonlyArray<Example>
  readonly supplementalInformation?: ReadonlyArray<
    { readonly name: string; readonly kind: string; readonly raw?: string; readonly value?: unknown }
  >
}

export const directory = fileURLToPath(new URL("../../../../contract/tink/", import.meta.url))

const read = (file: string): unknown => JSON.parse(readFileSync(`${directory}${file}`, "utf8"))

/** Every endpoint file of the corpus (errors.json aside). */
export const endpoints: ReadonlyArray<Endpoint> = readdirSync(directory)
  .filter((file) => file.endsWith(".json") && file !== "errors.json")
  .sort()
  .map((file) => ({ file, ...(read(file) as Omit<Endpoint, "file">) }))

export const endpoint = (method: string, path: string): Endpoint => {
  const found = endpoints.find((entry) => entry.method === method && entry.path === path)
  if (found === undefined) throw new Error(`no corpus entry for ${method} ${path}`)
  return found
}

export const errors = read("errors.json") as {
  readonly body: { readonly fields: ReadonlyArray<Field> }
  readonly statuses: ReadonlyArray<{ readonly status: number | string }>
  readonly headers: ReadonlyArray<{ readonly name: string }>
}

/** A 32-hex value in place of each `{NAME}` placeholder, so ids decode as ids do at Tink. */
export const fillPlaceholders = (body: unknown): unknown => {
  if (typeof body === "string") return /^\{[A-Z_]+\}$/.test(body) ? "0123456789abcdef0123456789abcdef" : body
  if (Array.isArray(body)) return body.map(fillPlaceholders)
  if (typeof body === "object" && body !== null) {
    return Object.fromEntries(Object.entries(body).map(([key, value]) => [key, fillPlaceholders(value)]))
  }
  return body
}

/** The responses to decode: every documented response example, placeholders filled. */
export const responseExamples = (entry: Endpoint) =>
  entry.examples
    .filter((example) => example.kind === "response")
    .map((example) => ({
      ...example,
      body: example.templatePlaceholders ? fillPlaceholders(example.body) : example.body
    }))
