/**
 * Checks a Redis URL before node-redis sees it: node-redis parses with `new URL` (or, for
 * `unix://`, decodes parts with `decodeURIComponent`), whose errors can carry the whole input,
 * password included. The reason returned here never quotes the URL.
 *
 * Accepted, as node-redis reads them: `redis[s]://[[user][:password]@]host[:port][/db]` and
 * `unix://[[user][:password]@]/path/to/socket[?db=N]`.
 *
 * @internal
 */
export const problem = (url: string): string | undefined => {
  if (/^unix:/i.test(url)) return unixProblem(url)
  if (!/^rediss?:\/\//i.test(url)) return "must start with redis://, rediss:// or unix://"
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return "is not a valid URL"
  }
  if (parsed.hostname === "") return "has no host"
  if (parsed.pathname.length > 1 && !/^\/\d+$/.test(parsed.pathname)) {
    return "may only have a database number as its path"
  }
  if (parsed.search !== "" || parsed.hash !== "") return "may not have a query or a fragment"
  return credentialsProblem(parsed.username, parsed.password)
}

const credentialsProblem = (username: string, password: string): string | undefined => {
  try {
    decodeURIComponent(username)
    decodeURIComponent(password)
  } catch {
    return "has a user name or password that is not valid percent-encoding"
  }
  return undefined
}

/** node-redis's own pattern for unix URLs; `?db=N` is the only query it reads. */
const unixUrl = /^unix:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?(\/[^?#]*)(?:\?([^#]*))?$/

const unixProblem = (url: string): string | undefined => {
  const match = unixUrl.exec(url)
  if (match === null || match[3] === "/") return "is not a valid unix:// URL (unix://[user[:password]@]/path/to/socket)"
  const [, username = "", password = "", path = "", query] = match
  if (query !== undefined && !/^db=\d+$/.test(query)) return "may only have db=<number> as its query"
  try {
    decodeURIComponent(path)
  } catch {
    return "has a socket path that is not valid percent-encoding"
  }
  return credentialsProblem(username, password)
}

/**
 * Where a checked URL points, for logs: `host:port` (node-redis's default port 6379 when none is
 * given) or `unix:/path/to/socket`. Never the user name, password or database.
 *
 * @internal
 */
export const address = (url: string): string => {
  if (/^unix:/i.test(url)) {
    const path = unixUrl.exec(url)?.[3]
    try {
      return path === undefined ? "a unix socket" : `unix:${decodeURIComponent(path)}`
    } catch {
      return "a unix socket"
    }
  }
  try {
    const parsed = new URL(url)
    return `${parsed.hostname}:${parsed.port === "" ? "6379" : parsed.port}`
  } catch {
    return "an unparsable address"
  }
}
