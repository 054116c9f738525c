/**
 * Checks a Redis URL before node-redis sees it: node-redis parses with `new URL`, whose error
 * carries the whole input (password included) in its `input` property. The reason returned here
 * never quotes the URL.
 *
 * @internal
 */
export const problem = (url: string): string | undefined => {
  if (!/^rediss?:\/\//i.test(url)) return "must start with redis:// or rediss://"
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
  try {
    decodeURIComponent(parsed.username)
    decodeURIComponent(parsed.password)
  } catch {
    return "has a user name or password that is not valid percent-encoding"
  }
  return undefined
}
