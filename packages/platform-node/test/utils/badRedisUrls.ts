import { assert } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Util from "node:util"

/** A password that must never show up anywhere, and malformed URLs that carry it. */
export const password = "hunter2-Pa55w0rd-secret"

export const badRedisUrls: ReadonlyArray<string> = [
  `redis://user:${password}@[::1`, // unclosed IPv6 bracket: Node's URL error would hold the input
  `redis://:${password}@127.0.0.1:99999`, // port out of range
  `http://:${password}@127.0.0.1:6379`, // not a Redis scheme
  `redis://:${password}@127.0.0.1:6379/not-a-db`, // path other than a database number
  `redis://:%zz${password}@127.0.0.1:6379`, // bad percent-encoding in the password
  `redis://:${password}@:6379`, // no host
  `${password}` // not a URL at all
]

/** Asserts the error is a ConfigError naming `setting`, and no rendering of it holds the password. */
export const assertSafeConfigError = (error: unknown, setting: string) => {
  assert.strictEqual((error as { _op?: string })._op, "InvalidData", String(error))
  const renderings = [
    String(error),
    JSON.stringify(error),
    Util.inspect(error, { depth: 20, showHidden: true }),
    Cause.pretty(Cause.fail(error))
  ]
  assert.include(renderings[0], setting)
  for (const text of renderings) {
    assert.notInclude(text, password)
    assert.notInclude(text, "hunter2")
  }
}
