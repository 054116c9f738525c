import type { RecordedRequest } from "../Sandbox.js"

/**
 * @internal
 * Counts every request that reaches the app, faulted ones included, per exact method and path, so
 * tests can assert how many calls reached "Tink". The log of full requests is bounded; the
 * counters are exact regardless.
 */
export class Recorder {
  private readonly counts = new Map<string, number>()
  private readonly faults = new Map<string, number>()
  private total = 0
  private created = 0
  private log: Array<RecordedRequest> = []

  constructor(private readonly limit: number) {}

  record(request: RecordedRequest): void {
    const key = keyOf(request.method, request.path)
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
    this.total++
    if (this.limit <= 0) return
    this.log.push(request)
    // Trim in batches so a long benchmark does not pay an O(n) shift per request.
    if (this.log.length > this.limit * 2) this.log = this.log.slice(-this.limit)
  }

  /** A user created through the API. */
  userCreated(): void {
    this.created++
  }

  usersCreated(): number {
    return this.created
  }

  /** A request a fault hit, under the fault's label. */
  fault(label: string): void {
    this.faults.set(label, (this.faults.get(label) ?? 0) + 1)
  }

  faultsInjected(): Readonly<Record<string, number>> {
    return Object.fromEntries(this.faults)
  }

  count(method: string, path: string): number {
    return this.counts.get(keyOf(method, path)) ?? 0
  }

  totalRequests(): number {
    return this.total
  }

  requests(): ReadonlyArray<RecordedRequest> {
    return this.log.length > this.limit ? this.log.slice(-this.limit) : this.log.slice()
  }

  reset(): void {
    this.counts.clear()
    this.faults.clear()
    this.total = 0
    this.created = 0
    this.log = []
  }
}

const keyOf = (method: string, path: string): string => `${method.toUpperCase()} ${path}`
