import type { Fault, FaultRule } from "../Sandbox.js"

interface ActiveRule {
  readonly method: string | undefined
  readonly matchesPath: (path: string) => boolean
  remaining: number | undefined
  readonly probability: number | undefined
  readonly fault: Fault
}

/** @internal What the active rules do to one request. */
export interface Decision {
  /** Total delay of the matching Latency rules. */
  readonly latencyMillis: number
  /** A matching Latency rule asks to finish the request even when its client is gone. */
  readonly finishWhenAbandoned: boolean
  /** The fault that answers instead of the endpoint (or spoils its answer), if any. */
  readonly fault: Fault | undefined
}

/**
 * @internal
 * Uniform numbers in [0, 1) for one decision: two per rule (one for `probability`, one for a
 * latency range), drawn by the caller with Effect's Random so the draw follows its Random service.
 */
export type Draws = ReadonlyArray<number>

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
      probability: rule.probability,
      fault: rule.fault
    })).filter((rule) => rule.remaining === undefined || rule.remaining > 0)
  }

  clear(): void {
    this.rules = []
  }

  /** How many uniform draws `take` may need. */
  get drawsNeeded(): number {
    return this.rules.length * 2
  }

  take(method: string, path: string, draws: Draws = []): Decision {
    let latencyMillis = 0
    let finishWhenAbandoned = false
    let fault: Fault | undefined
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i]!
      if (rule.method !== undefined && rule.method !== method) continue
      if (!rule.matchesPath(path)) continue
      if (rule.probability !== undefined && !((draws[2 * i] ?? 0) < rule.probability)) continue
      if (rule.fault._tag === "Latency") {
        latencyMillis += latencyOf(rule.fault, draws[2 * i + 1] ?? 0)
        finishWhenAbandoned ||= rule.fault.finishWhenAbandoned === true
      } else {
        fault = rule.fault
      }
      if (rule.remaining !== undefined) rule.remaining--
      if (fault !== undefined) break
    }
    this.rules = this.rules.filter((rule) => rule.remaining === undefined || rule.remaining > 0)
    return { latencyMillis, finishWhenAbandoned, fault }
  }
}

const latencyOf = (fault: Extract<Fault, { readonly _tag: "Latency" }>, draw: number): number => {
  const low = Math.max(0, fault.millis)
  if (fault.maxMillis === undefined || fault.maxMillis <= low) return low
  return low + Math.floor(draw * (Math.floor(fault.maxMillis) - low + 1))
}

/** @internal The name a fault is counted under. */
export const label = (fault: Fault): string => {
  switch (fault._tag) {
    case "Status":
      return `Status ${fault.status}${fault.retryAfter === undefined ? "" : " with Retry-After"}`
    case "Html":
      return `Html ${fault.status}`
    case "Drop":
      return fault.afterProcessing === true ? "Drop after processing" : "Drop"
    default:
      return fault._tag
  }
}

const pathMatcher = (path: string | RegExp | undefined): (path: string) => boolean => {
  if (path === undefined) return () => true
  if (typeof path === "string") return (candidate) => candidate === path
  // Drop the stateful flags: a global RegExp's lastIndex would make every other test fail.
  const regex = new RegExp(path.source, path.flags.replace(/[gy]/g, ""))
  return (candidate) => regex.test(candidate)
}
