import type { Fault, FaultRule } from "../Sandbox.js"

interface ActiveRule {
  readonly method: string | undefined
  readonly matchesPath: (path: string) => boolean
  remaining: number | undefined
  readonly fault: Fault
}

/** @internal What the active rules do to one request. */
export interface Decision {
  /** Total delay of the matching Latency rules. */
  readonly latencyMillis: number
  /** The fault that answers instead of the endpoint, if any. */
  readonly fault: Fault | undefined
}

/**
 * @internal
 * The active fault rules. `take` both decides and consumes (a `times` budget is spent by the
 * requests it hit), in one synchronous step so concurrent requests never spend one budget twice.
 */
export class FaultRules {
  private rules: Array<ActiveRule> = []

  set(rules: ReadonlyArray<FaultRule>): void {
    this.rules = rules.map((rule) => ({
      method: rule.method?.toUpperCase(),
      matchesPath: pathMatcher(rule.path),
      remaining: rule.times,
      fault: rule.fault
    })).filter((rule) => rule.remaining === undefined || rule.remaining > 0)
  }

  clear(): void {
    this.rules = []
  }

  take(method: string, path: string): Decision {
    let latencyMillis = 0
    let fault: Fault | undefined
    for (const rule of this.rules) {
      if (rule.method !== undefined && rule.method !== method) continue
      if (!rule.matchesPath(path)) continue
      if (rule.fault._tag === "Latency") {
        latencyMillis += Math.max(0, rule.fault.millis)
      } else {
        fault = rule.fault
      }
      if (rule.remaining !== undefined) rule.remaining--
      if (fault !== undefined) break
    }
    this.rules = this.rules.filter((rule) => rule.remaining === undefined || rule.remaining > 0)
    return { latencyMillis, fault }
  }
}

const pathMatcher = (path: string | RegExp | undefined): (path: string) => boolean => {
  if (path === undefined) return () => true
  if (typeof path === "string") return (candidate) => candidate === path
  // Drop the stateful flags: a global RegExp's lastIndex would make every other test fail.
  const regex = new RegExp(path.source, path.flags.replace(/[gy]/g, ""))
  return (candidate) => regex.test(candidate)
}
