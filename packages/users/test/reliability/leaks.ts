import { Cause } from "effect"
import * as util from "node:util"

/** Every way an error is commonly shown: message, String, JSON, util.inspect, a pretty Cause. */
export const renderings = (error: unknown): ReadonlyArray<string> => [
  (error as Error).message,
  String(error),
  JSON.stringify(error),
  util.inspect(error, { depth: 10 }),
  Cause.pretty(Cause.fail(error))
]

/** The first run of 8 characters of `secret` that `text` contains, if any. */
export const leakedPart = (text: string, secret: string): string | undefined => {
  for (let i = 0; i + 8 <= secret.length; i++) {
    const part = secret.slice(i, i + 8)
    if (text.includes(part)) return part
  }
  return undefined
}
